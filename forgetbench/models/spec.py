"""Model specs: parse, resolve to a local Hugging Face folder, validate, fingerprint.

A spec is one of:
- a short name of an embedded model (`smollm2-135m`, `gemma3-270m`; see `embedded`);
- a local Hugging Face folder (config.json, tokenizer files, safetensors / PyTorch weights);
- a GGUF file (converted once into an fp32 HF folder under `<home>/models/`);
- a hub id `org/name` with an optional `@revision` (downloaded through huggingface_hub);
- a PEFT (LoRA) adapter folder, local or on the hub, applied to the base it is compared with
  (`forgetbench.models.adapter`).

Every spec resolves to a validated local folder and its `Fingerprint`, so backends only ever see a
folder and the store keys results by contents, not by name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from forgetbench.backends import model_config
from forgetbench.core.errors import BackendError, ModelSpecError
from forgetbench.core.fs import build_once
from forgetbench.core.home import models_dir
from forgetbench.core.model import ModelSpec, ResolvedModel
from forgetbench.models import adapter, embedded
from forgetbench.models.checkpoints import check_not_a_training_folder
from forgetbench.models.fingerprint import file_digest, fingerprint
from forgetbench.models.validate import validate_folder

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


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
        f"{raw}: unknown model (not a path, not a hub id org/name, not an embedded model: {', '.join(embedded.MODELS)})"
    )


def _gguf_folder(gguf: Path) -> Path:
    """The HF folder converted from `gguf` (converting it the first time)."""
    from forgetbench.backends.hf.gguf import gguf_to_folder

    final = models_dir() / f"gguf-{file_digest(gguf)[:20]}"
    return build_once(
        final,
        models_dir() / ".locks" / f"{final.name}.lock",
        lambda tmp: gguf_to_folder(gguf, tmp),
        done=lambda p: (p / "config.json").is_file(),
    )


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
    except Exception as exc:  # huggingface_hub raises many types, with messages of several lines
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise BackendError(f"{spec.raw}: could not fetch from the Hugging Face hub ({type(exc).__name__}: {first})") from None


def local_folder(spec: ModelSpec) -> Path:
    """The local HF folder for `spec`, materialising embedded/GGUF models and downloading hub ones."""
    if spec.kind == "embedded":
        return embedded.ensure(spec.location)
    if spec.kind == "gguf":
        return _gguf_folder(Path(spec.location))
    if spec.kind == "hub":
        return _hub_folder(spec)
    return Path(spec.location)


def context_length(model: ResolvedModel) -> int | None:
    """The longest sequence the model was built for (config.json, or its `text_config`), or None when
    the config does not say."""
    return model_config.context_length(model.path)


def _adapter_base(folder: Path, raw: str, trust_remote_code: bool) -> ResolvedModel:
    """An adapter evaluated on its own runs on the base it declares, which must resolve here."""
    declared = adapter.declared_base(folder, raw)
    try:
        return resolve(declared, trust_remote_code)
    except ModelSpecError as exc:
        raise ModelSpecError(
            f"{raw}: an adapter for {declared!r}, which cannot be resolved here ({exc}); give its base"
        ) from None


def resolve(
    raw: str, trust_remote_code: bool = False, base: ResolvedModel | None = None, allow_base_mismatch: bool = False
) -> ResolvedModel:
    """Parse, materialise, validate and fingerprint a model spec. A PEFT adapter folder (local or from
    the hub) is resolved on `base` (checked to be the base it declares, `adapter.match_base`; with
    `allow_base_mismatch` a declared base with other weights is measured anyway and recorded), or,
    without one, on the base it declares."""
    spec = parse_spec(raw)
    folder = local_folder(spec)
    if adapter.is_adapter(folder):
        on = base if base is not None else _adapter_base(folder, raw, trust_remote_code)
        return adapter.resolve_adapter(spec, folder, on, allow_base_mismatch)
    _check_full(folder, raw, trust_remote_code)
    return ResolvedModel(spec, folder, fingerprint(folder), trust_remote_code)


def _check_full(folder: Path, raw: str, trust_remote_code: bool) -> None:
    """A full-weight model folder: one model, complete (headers), and its own code only when trusted."""
    check_not_a_training_folder(folder, raw)
    validate_folder(folder)
    if not trust_remote_code:
        cfg = json.loads((folder / "config.json").read_text())
        if cfg.get("auto_map"):
            raise ModelSpecError(
                f"{raw}: the model ships its own code (auto_map in config.json); pass --trust-remote-code if you trust it"
            )


def check(raw: str, trust_remote_code: bool, base: ResolvedModel, allow_base_mismatch: bool = False) -> None:
    """Every check `resolve(raw, ..., base=base)` makes of a local folder, without hashing full weights or
    downloading anything (an adapter's own small weights and its declared base are fingerprinted, cached):
    what a sharded sweep runs on the checkpoints other shards compute. Hub, GGUF and embedded specs are
    left to the shard that resolves them."""
    spec = parse_spec(raw)
    if spec.kind != "dir":
        return
    folder = Path(spec.location)
    if adapter.is_adapter(folder):
        adapter.resolve_adapter(spec, folder, base, allow_base_mismatch)
    else:
        _check_full(folder, raw, trust_remote_code)
