"""PEFT (LoRA) adapter folders as checkpoints: validate one, match it to its base, fingerprint it.

An adapter folder holds `adapter_config.json` and `adapter_model.safetensors` (or `.bin`), and
maybe the tokenizer it was trained with. It becomes a `ResolvedModel` whose `path` is the base's
folder and whose `adapter` says what to apply on top. Checked here, cheaply and before any model is
loaded (headers only):

- the method is LoRA (what both backends apply: transformers through peft, vLLM natively);
- the weights are there and whole (a checkpoint still being written has no weight file yet);
- the whole config (`lora_config.check_config`: `r`, `lora_alpha`, `target_modules`, the rank and alpha
  patterns, ...) and the saved LoRA factors against it (`lora_config.check_tensors`: pairs, ranks);
- the declared base (`base_model_name_or_path`) is the base (`match_base`): when it is found on this
  machine (a local folder, an embedded model, or a hub id in the Hugging Face cache, looked up
  offline) it is the base's own folder or holds the base's weights, config and tokenizer (fingerprint
  digests, cached); other contents are refused unless `--allow-base-mismatch`. A declared base that
  cannot be found is `unverified`: measured, with a warning in the report;
- every module the adapter targets exists in the base, with the shapes its LoRA matrices need;
- a tokenizer saved with the adapter is the base's (same vocabulary, special tokens, chat template).

The fingerprint is the base's with the adapter's digest (config without bookkeeping, and weight
tensors) folded into `digest` and `weights`, so the store keys an adapter's results by base and
adapter contents.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from forgetbench.core.errors import BackendUnavailable, ModelSpecError
from forgetbench.core.hashing import digest
from forgetbench.core.model import EMBEDDING_MODULES, Adapter, Fingerprint, ModelSpec, ResolvedModel
from forgetbench.models import embedded
from forgetbench.models.fingerprint import BOOKKEEPING, TOKENIZER_FILES, VERSION, file_content, fingerprint, tokenizer_digest
from forgetbench.models.lora_config import check_config, check_tensors, module_of
from forgetbench.models.validate import check_weight_file, tensor_shapes, validate_folder

CONFIG = "adapter_config.json"
WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
PEFT_INSTALL = "adapters are applied with peft: pip install peft (or pip install 'forgetbench[peft]')"
ADAPTER_BOOKKEEPING = BOOKKEEPING | {"base_model_name_or_path", "revision", "inference_mode", "peft_version"}


def is_adapter(folder: Path) -> bool:
    """Whether `folder` is a PEFT adapter folder (it has adapter_config.json)."""
    return (folder / CONFIG).is_file()


def _config(folder: Path, name: str) -> dict[str, Any]:
    try:
        cfg = json.loads((folder / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelSpecError(f"{name}: {CONFIG} is not valid JSON") from None
    if not isinstance(cfg, dict):
        raise ModelSpecError(f"{name}: {CONFIG} is not a PEFT adapter config")
    if cfg.get("peft_type") != "LORA":
        raise ModelSpecError(f"{name}: a {cfg.get('peft_type') or 'untyped'} adapter; forgetbench applies LoRA adapters only")
    if not isinstance(cfg.get("base_model_name_or_path"), str) or not cfg["base_model_name_or_path"]:
        raise ModelSpecError(f"{name}: {CONFIG} does not say which base it was trained on (base_model_name_or_path)")
    check_config(cfg, name)
    return cfg


def adapter_weights(folder: Path, name: str) -> Path:
    """The adapter's weight file (safetensors, else a PyTorch pickle), checked; ModelSpecError when there is none."""
    found = [folder / w for w in WEIGHTS if (folder / w).is_file()]
    if not found:
        raise ModelSpecError(
            f"{name}: adapter weights missing ({' or '.join(WEIGHTS)}): a checkpoint still being written, or an incomplete copy"
        )
    check_weight_file(found[0])
    return found[0]


def declared_base(folder: Path, name: str) -> str:
    """The base an adapter folder says it was trained on."""
    return str(_config(folder, name)["base_model_name_or_path"])


def _locate(declared: str) -> tuple[Path | None, str]:
    """The model folder a declared base names on this machine — a local folder, an embedded model already
    materialised, or a hub id `org/name[@revision]` in the Hugging Face cache (looked up offline: nothing is
    downloaded) — or None and why there is none."""
    local = Path(declared).expanduser()
    if local.is_dir():
        found = local
    elif declared in embedded.MODELS:
        if not embedded.is_present(declared):
            return None, "an embedded model not materialised here"
        found = embedded.folder(declared)
    else:
        repo, _, revision = declared.partition("@")
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(repo, "config.json", revision=revision or None)
        except Exception:  # not a hub id (huggingface_hub's validation errors), or no cache to read
            cached = None
        if not isinstance(cached, str):
            return None, "not a folder here, nor in the Hugging Face cache"
        found = Path(cached).parent
    try:
        validate_folder(found)
    except ModelSpecError as exc:
        return None, f"{found} is not a complete model folder: {exc}"
    return found, ""


def match_base(declared: str, base: ResolvedModel, name: str, allow_mismatch: bool = False) -> tuple[str, str | None]:
    """How the adapter's declared base is `base` (`Adapter.matched_by`), and the report's warning when the
    match is weak: `name` when the declared base is the base's own folder; `weights` when it is another
    folder with the base's weights, config and tokenizer (fingerprint digests, cached per file);
    `unverified` (warned) when it cannot be found here. Other contents are refused (ModelSpecError, exit 2)
    unless `allow_mismatch`: then `mismatch allowed` (warned)."""
    folder, why = _locate(declared)
    if folder is None:
        return "unverified", (
            f"the adapter {name} declares the base {declared!r}, which cannot be compared here ({why}): it was "
            f"applied to {base.name} unverified (only its modules, shapes and tokenizer were checked against it)"
        )
    if folder.resolve() == base.path.resolve():
        return "name", None
    theirs, ours = fingerprint(folder), base.fingerprint
    differ = [part for part in ("weights", "config", "tokenizer") if getattr(theirs, part) != getattr(ours, part)]
    if not differ:
        return "weights", None
    what = " and ".join(differ)
    if not allow_mismatch:
        raise ModelSpecError(
            f"{name}: an adapter for {declared}, whose {what} differ from the base {base.name}'s; give the base it "
            "was trained on, or pass --allow-base-mismatch to measure anyway"
        )
    return "mismatch allowed", (
        f"the adapter {name} was trained on {declared}, whose {what} differ from the base {base.name}'s; measured "
        "anyway (--allow-base-mismatch): its results are of a model nobody trained"
    )


def _lora_shapes_fit(part: str, shape: list[int], base_shape: list[int]) -> bool:
    """Whether a LoRA factor of `shape` fits a base weight of `base_shape` ([out, in]; embeddings [num, dim])."""
    if len(base_shape) != 2 or len(shape) != 2:
        return True  # convolutions, DoRA magnitudes and other layouts: peft checks them when it applies the adapter
    return {
        "lora_A": shape[1] == base_shape[1],
        "lora_B": shape[0] == base_shape[0],
        "lora_embedding_A": shape[1] == base_shape[0],
        "lora_embedding_B": shape[0] == base_shape[1],
    }.get(part, True)


def _find(module: str, modules: set[str]) -> str | None:
    """The base module `module` names: the same path, or one that differs by a leading model prefix
    (`transformer.h.0.attn` in peft's keys, `h.0.attn` in a GPT-2 checkpoint)."""
    if module in modules:
        return module
    found = [m for m in modules if module.endswith("." + m) or m.endswith("." + module)]
    return found[0] if len(found) == 1 else None


def check_modules(weights: Path, cfg: dict[str, Any], base: ResolvedModel, name: str) -> None:
    """Every module the adapter changes exists in the base with fitting shapes (safetensors bases only:
    a PyTorch-pickle base is checked by peft when it is applied)."""
    shapes = tensor_shapes(base.path)
    if shapes is None:
        return
    modules = {n.removesuffix(".weight") for n in shapes if n.endswith(".weight")}
    tied = not any(n.endswith(("lm_head.weight", "embed_out.weight")) for n in shapes)  # the head reuses the embedding
    targets = cfg.get("target_modules")
    if isinstance(targets, list):
        suffixes = {m.rsplit(".", 1)[-1] for m in modules} | ({"lm_head"} if tied else set())
        absent = sorted(t for t in targets if t not in suffixes and not any(m.endswith("." + t) or m == t for m in modules))
        if absent:
            raise ModelSpecError(f"{name}: targets modules the base {base.name} lacks: {', '.join(absent)}")
    adapter_shapes = tensor_shapes(weights.parent, [weights]) if weights.suffix == ".safetensors" else {}
    check_tensors(adapter_shapes or {}, cfg, name)
    for key, shape in sorted((adapter_shapes or {}).items()):
        module, part = module_of(key)
        found = _find(module, modules)
        if found is None:
            if tied and module.endswith("lm_head"):
                continue  # tied output head: its weight is the input embedding's
            raise ModelSpecError(f"{name}: changes module {module}, which the base {base.name} lacks")
        base_shape = shapes[found + ".weight"]
        if cfg.get("fan_in_fan_out"):
            base_shape = base_shape[::-1]  # GPT-2's Conv1D stores [in, out]
        if (part and not _lora_shapes_fit(part, shape, base_shape)) or (
            not part and key.endswith(".weight") and shape != base_shape
        ):
            raise ModelSpecError(
                f"{name}: {key} has shape {shape}, which does not fit {module} {base_shape} of the base {base.name}"
            )
    if tied and EMBEDDING_MODULES.intersection(_changed(weights, cfg)):
        raise ModelSpecError(
            f"{name}: changes the embeddings of a base whose output head shares them (tied): merging would change both "
            "sides, which the adapter does not; not supported"
        )


def _changed(weights: Path, cfg: dict[str, Any]) -> tuple[str, ...]:
    """Last path components of the modules the adapter changes: from its weights (safetensors), else its config."""
    shapes = tensor_shapes(weights.parent, [weights]) if weights.suffix == ".safetensors" else None
    if shapes is not None:
        return tuple(sorted({module_of(k)[0].rsplit(".", 1)[-1] for k in shapes}))
    targets = cfg.get("target_modules")
    names = list(targets) if isinstance(targets, list) else []
    return tuple(sorted(set(names) | set(cfg.get("modules_to_save") or [])))


def _check_tokenizer(folder: Path, base: ResolvedModel, name: str) -> None:
    """A tokenizer saved with the adapter must be the base's: the adapter runs with the base's."""
    if not any((folder / n).is_file() for n in TOKENIZER_FILES) or tokenizer_digest(folder) == base.fingerprint.tokenizer:
        return  # none saved, or the base's
    from forgetbench.models.tokenizer import load_tokenizer_at, tokenizer_difference

    difference = tokenizer_difference(  # a trainer often sets a pad token where the base has none: never encoded
        load_tokenizer_at(base.path, base.name), load_tokenizer_at(folder, name), templates=True, ignore=("pad_token",)
    )
    if difference:
        raise ModelSpecError(f"{name}: mixed tokenizers: the adapter was saved with a tokenizer unlike the base's ({difference})")


def resolve_adapter(spec: ModelSpec, folder: Path, base: ResolvedModel, allow_base_mismatch: bool = False) -> ResolvedModel:
    """The adapter in `folder` on `base`, validated and fingerprinted (no model is loaded); with
    `allow_base_mismatch`, a declared base with other contents is measured anyway (and recorded)."""
    name = spec.raw
    if find_spec("peft") is None:
        raise BackendUnavailable(f"{name}: {PEFT_INSTALL}")
    if base.adapter is not None:
        raise ModelSpecError(f"{base.name}: an adapter cannot be the base of another adapter ({name})")
    cfg = _config(folder, name)
    weights = adapter_weights(folder, name)
    declared = str(cfg["base_model_name_or_path"])
    matched, warning = match_base(declared, base, name, allow_base_mismatch)
    check_modules(weights, cfg, base, name)
    _check_tokenizer(folder, base, name)
    own = digest([{k: v for k, v in cfg.items() if k not in ADAPTER_BOOKKEEPING}, file_content(weights)])
    ranks = [cfg["r"], *(cfg.get("rank_pattern") or {}).values()]
    extras = tuple(k for k in ("use_dora", "modules_to_save") if cfg.get(k))
    adapter = Adapter(folder, own, "LORA", int(max(ranks)), declared, matched, _changed(weights, cfg), extras, warning)
    fp = base.fingerprint
    fingerprint = Fingerprint(digest([VERSION, "adapter", fp.digest, own]), fp.config, fp.tokenizer, digest([fp.weights, own]))
    return ResolvedModel(spec, base.path, fingerprint, base.trust_remote_code, adapter)
