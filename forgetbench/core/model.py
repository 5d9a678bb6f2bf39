"""Typed model identities passed between layers: a parsed spec, a content fingerprint, and a model
resolved to a validated local folder (what every backend receives). `forgetbench.models` builds
them; nothing here touches the disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from forgetbench.core.results import AdapterInfo, ModelInfo

SpecKind = Literal["embedded", "dir", "gguf", "hub"]
EMBEDDING_MODULES = frozenset({"lm_head", "embed_tokens", "embed_out", "wte", "output", "tok_embeddings", "word_embeddings"})
"""Module names of input embeddings and output heads across common architectures."""


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
class Adapter:
    """A validated PEFT (LoRA) adapter folder, matched to the base it is applied to."""

    path: Path
    """Local adapter folder (adapter_config.json and adapter_model.safetensors / .bin)."""
    digest: str
    """sha256 of the adapter config (without bookkeeping) and its weight tensors."""
    peft_type: str
    rank: int
    """LoRA rank `r` (the largest, when layers have their own): vLLM's `max_lora_rank` must cover it."""
    declared_base: str
    """`base_model_name_or_path` of adapter_config.json."""
    matched_by: str
    """How the declared base was matched to the base model (`models.adapter.match_base`): `name` (it is the
    base's own folder), `weights` (another folder with the base's weights, config and tokenizer),
    `unverified` (not on this machine: its weights could not be compared) or `mismatch allowed` (other
    weights, measured anyway with --allow-base-mismatch)."""
    modules: tuple[str, ...] = ()
    """Names of the base's modules it changes (last path component: `q_proj`, `lm_head`, ...)."""
    extras: tuple[str, ...] = ()
    """PEFT features beyond plain LoRA it uses (`use_dora`, `modules_to_save`), which not every backend serves."""
    warning: str | None = None
    """One line for the report when the match is `unverified` or `mismatch allowed`; None otherwise."""

    @property
    def embeddings(self) -> tuple[str, ...]:
        """The input-embedding or output-head modules it changes."""
        return tuple(m for m in self.modules if m in EMBEDDING_MODULES)

    def info(self) -> AdapterInfo:
        return AdapterInfo(str(self.path), self.digest, self.peft_type, self.rank, self.declared_base, self.matched_by)


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready for a backend: a validated local HF folder and its fingerprint. A checkpoint that is
    a PEFT adapter is its base's folder (`path`) with the `adapter` on top; its fingerprint is the base's
    with the adapter's digest folded in (config and tokenizer digests stay the base's)."""

    spec: ModelSpec
    path: Path
    """Local Hugging Face folder the backend loads (the base's, for an adapter)."""
    fingerprint: Fingerprint
    trust_remote_code: bool = False
    """Whether the user allowed the model's own code to run (off unless asked)."""
    adapter: Adapter | None = None
    """The PEFT adapter applied on top of the folder at `path`, when this checkpoint is one."""

    @property
    def name(self) -> str:
        """Display name: the spec as typed."""
        return self.spec.raw

    def info(self) -> ModelInfo:
        """The model's identity as recorded in results."""
        fp = self.fingerprint
        adapter = self.adapter.info() if self.adapter else None
        return ModelInfo(self.spec.raw, self.spec.kind, str(self.path), fp.digest, fp.tokenizer, adapter)
