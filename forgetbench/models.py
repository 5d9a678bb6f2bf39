"""Model specs: parse, resolve to a local Hugging Face folder, validate, fingerprint.

A spec is one of:
- a short name of an embedded model (`smollm2-135m`, `gemma3-270m`; see `embedded`);
- a local Hugging Face folder (config.json, tokenizer files, safetensors / PyTorch weights);
- a GGUF file (converted once into an fp32 HF folder under `<home>/models/`);
- a hub id `org/name` with an optional `@revision` (downloaded through huggingface_hub).

Every spec resolves to a validated local folder and its `Fingerprint`, so backends only ever see a
folder and the store keys results by contents, not by name.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from forgetbench import embedded
from forgetbench.errors import BackendError, ModelSpecError
from forgetbench.fingerprint import TOKENIZER_FILES, Fingerprint, file_digest, fingerprint, weight_files
from forgetbench.home import models_dir
from forgetbench.schema import ModelInfo
from forgetbench.store import atomic_dir, file_lock

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec (nothing loaded or downloaded yet)."""

    raw: str
    """What the user typed."""
    kind: str
    """`embedded`, `dir`, `gguf` or `hub`."""
    location: str
    """Embedded name, absolute path, or hub repo id."""
    revision: str | None = None
    """Hub revision after `@`, if any."""


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


def parse_spec(raw: str) -> ModelSpec:
    """Classify `raw` as a model spec; ModelSpecError (exit 2) when it names nothing usable."""
    if raw in embedded.MODELS:
        return ModelSpec(raw, "embedded", raw)
    path = Path(raw).expanduser()
    if path.is_dir():
        return ModelSpec(raw, "dir", str(path.resolve()))
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return ModelSpec(raw, "gguf", str(path.resolve()))
        raise ModelSpecError(f"{raw}: is a file but not a GGUF model (expected a folder or .gguf)")
    looks_like_path = raw.startswith((".", "/", "~")) or raw.lower().endswith(".gguf") or raw.count("/") > 1
    if not looks_like_path and _HUB_ID.match(raw):
        repo, _, revision = raw.partition("@")
        return ModelSpec(raw, "hub", repo, revision or None)
    if looks_like_path:
        raise ModelSpecError(f"{raw}: no such file or directory")
    raise ModelSpecError(
        f"{raw}: unknown model (not a path, not a hub id org/name, not an embedded model: "
        f"{', '.join(embedded.MODELS)})"
    )


def _check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ModelSpecError(f"{path}: corrupt or truncated weights (file too short)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100_000_000:
            raise ModelSpecError(f"{path}: corrupt or truncated weights (bad safetensors header)")
        try:
            header = json.loads(fh.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelSpecError(f"{path}: corrupt weights (unreadable safetensors header)") from None
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    if 8 + n + max(ends, default=0) != size:
        raise ModelSpecError(
            f"{path}: corrupt or truncated weights ({size} bytes, header expects {8 + n + max(ends, default=0)})"
        )


def _check_torch_pickle(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            zf.infolist()
    except (zipfile.BadZipFile, OSError):
        raise ModelSpecError(f"{path}: corrupt or truncated weights (not a readable PyTorch archive)") from None


def validate_folder(folder: Path) -> None:
    """Check that `folder` is a complete HF causal-LM folder without loading it (cheap: headers only)."""
    config = folder / "config.json"
    if not config.is_file():
        raise ModelSpecError(f"{folder}: not a model folder (no config.json)")
    try:
        cfg = json.loads(config.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelSpecError(f"{config}: is not valid JSON") from None
    if not isinstance(cfg, dict) or "model_type" not in cfg:
        raise ModelSpecError(f"{config}: not a model config (no model_type)")
    weights = weight_files(folder)
    if not weights:
        raise ModelSpecError(f"{folder}: no weight files (*.safetensors or *.bin)")
    for index in folder.glob("*.index.json"):
        shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        missing = sorted(s for s in shards if not (folder / s).is_file())
        if missing:
            raise ModelSpecError(f"{folder}: weight shards listed in {index.name} are missing: {missing[0]}")
    for w in weights:
        if w.suffix == ".safetensors":
            _check_safetensors(w)
        else:
            _check_torch_pickle(w)
    if not any((folder / n).is_file() for n in TOKENIZER_FILES):
        raise ModelSpecError(f"{folder}: no tokenizer files (tokenizer.json, tokenizer.model, vocab.json...)")


def _gguf_folder(gguf: Path) -> Path:
    """The HF folder converted from `gguf` (converting it the first time)."""
    from forgetbench.backends.gguf import gguf_to_folder

    final = models_dir() / f"gguf-{file_digest(gguf)[:20]}"
    with file_lock(models_dir() / ".locks" / f"{final.name}.lock"):
        if not final.is_dir():
            with atomic_dir(final) as tmp:
                gguf_to_folder(gguf, tmp)
    return final


def _hub_folder(spec: ModelSpec) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                spec.location,
                revision=spec.revision,
                allow_patterns=["*.json", "*.safetensors", "*.bin", "*.model", "*.txt", "*.jinja"],
            )
        )
    except Exception as exc:  # huggingface_hub raises many types; the message says which
        raise BackendError(f"{spec.raw}: could not fetch from the Hugging Face hub ({type(exc).__name__}: {exc})") from None


def local_folder(spec: ModelSpec) -> Path:
    """The local HF folder for `spec`, materialising embedded/GGUF models and downloading hub ones."""
    if spec.kind == "embedded":
        return embedded.ensure(spec.location)
    if spec.kind == "gguf":
        return _gguf_folder(Path(spec.location))
    if spec.kind == "hub":
        return _hub_folder(spec)
    return Path(spec.location)


def resolve(raw: str, trust_remote_code: bool = False) -> ResolvedModel:
    """Parse, materialise, validate and fingerprint a model spec."""
    spec = parse_spec(raw)
    folder = local_folder(spec)
    validate_folder(folder)
    if not trust_remote_code:
        cfg = json.loads((folder / "config.json").read_text())
        if cfg.get("auto_map"):
            raise ModelSpecError(
                f"{raw}: the model ships its own code (auto_map in config.json); "
                "pass --trust-remote-code if you trust it"
            )
    return ResolvedModel(spec, folder, fingerprint(folder), trust_remote_code)
