"""Typed model identities passed between layers: a parsed spec, a content fingerprint, and a model
resolved to a validated local folder (what every backend receives). `forgetbench.models` builds
them; nothing here touches the disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from forgetbench.core.results import ModelInfo

SpecKind = Literal["embedded", "dir", "gguf", "hub"]


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec (nothing loaded or downloaded yet)."""

    raw: str
    """What the user typed."""
    kind: SpecKind
    """`embedded`, `dir`, `gguf` or `hub`."""
    location: str
    """Embedded name, absolute path, or hub repo id."""
    revision: str | None = None
    """Hub revision after `@`, if any."""


@dataclass(frozen=True)
class Fingerprint:
    """Identity of a model's contents (sha256 hex digests)."""

    digest: str
    """Digest over the three parts below: the model's identity in cache keys."""
    config: str
    """Digest of config.json and generation_config.json."""
    tokenizer: str
    """Digest of the tokenizer files (vocabulary, special tokens, chat template)."""
    weights: str
    """Digest of every weight file (safetensors / PyTorch shards) and its name."""

    @property
    def short(self) -> str:
        """First 12 hex digits, for display."""
        return self.digest[:12]


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready for a backend: a validated local HF folder and its fingerprint."""

    spec: ModelSpec
    path: Path
    """Local Hugging Face folder the backend loads."""
    fingerprint: Fingerprint
    trust_remote_code: bool = False
    """Whether the user allowed the model's own code to run (off unless asked)."""

    @property
    def name(self) -> str:
        """Display name: the spec as typed."""
        return self.spec.raw

    def info(self) -> ModelInfo:
        """The model's identity as recorded in results."""
        fp = self.fingerprint
        return ModelInfo(self.spec.raw, self.spec.kind, str(self.path), fp.digest, fp.tokenizer)
