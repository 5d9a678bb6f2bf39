"""A LoRA adapter's `adapter_config.json`, and its tensors against it, checked whole before any model loads.

peft reads the config only when it applies the adapter, deep inside a backend: a missing or zero `r`
ends there in a traceback, and an `r` that contradicts the saved matrices in a size-mismatch error
after the base has been loaded (in a sweep, after earlier checkpoints were computed). Here every key
peft uses to build and apply the layers is checked for its type and range, and every saved LoRA pair
(`lora_A`/`lora_B`, `lora_embedding_A`/`lora_embedding_B`) against the rank the config gives its
module (`rank_pattern` first, then `r`, matched as peft matches them). Each refusal is one line
naming the key, its value and what it must be (`ModelSpecError`, exit 2).
"""

from __future__ import annotations

import math
import re
from typing import Any

from forgetbench.core.errors import ModelSpecError

BIASES = ("none", "all", "lora_only")
"""peft's `bias` values."""
PAIRS = {"lora_A": "lora_B", "lora_embedding_A": "lora_embedding_B"}
"""The two factors of each LoRA update: A is [rank, in] (embeddings: [rank, num]), B is [out, rank]."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _rank(value: Any, what: str, name: str) -> int:
    if not _is_int(value) or value < 1:
        raise ModelSpecError(f"{name}: adapter_config.json {what} is {value!r}; a LoRA rank is a whole number ≥ 1")
    return int(value)


def _alpha(value: Any, what: str, name: str) -> None:
    if not _is_number(value) or value <= 0:
        raise ModelSpecError(
            f"{name}: adapter_config.json {what} is {value!r}; it must be a positive number (the update is scaled by alpha/r)"
        )


def _regex(pattern: str, what: str, name: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ModelSpecError(
            f"{name}: adapter_config.json {what} {pattern!r} is not a valid regular expression ({exc})"
        ) from None


def _names(value: Any, key: str, name: str, regex_allowed: bool) -> None:
    """`target_modules` / `modules_to_save`: None, a list of module names, or (targets only) one regex."""
    if value is None:
        return
    if isinstance(value, str) and regex_allowed:
        if not value:
            raise ModelSpecError(f"{name}: adapter_config.json {key} is an empty string")
        _regex(value, key, name)
        return
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        what = "a list of module names or one regular expression" if regex_allowed else "a list of module names"
        raise ModelSpecError(f"{name}: adapter_config.json {key} is {value!r}; it must be {what}")
    if regex_allowed and not value:
        raise ModelSpecError(f"{name}: adapter_config.json {key} is empty: the adapter targets no module")


def _pattern(value: Any, key: str, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ModelSpecError(f"{name}: adapter_config.json {key} is {value!r}; it must map module names to values")
    for pattern, v in value.items():
        if not pattern:
            raise ModelSpecError(f"{name}: adapter_config.json {key} has an empty module name")
        _regex(pattern, f"{key} key", name)
        if key == "rank_pattern":
            _rank(v, f"{key}[{pattern!r}]", name)
        else:
            _alpha(v, f"{key}[{pattern!r}]", name)
    return value


def check_config(cfg: dict[str, Any], name: str) -> None:
    """Every key peft needs to apply a LoRA adapter, by type and range (ModelSpecError, one line)."""
    if "r" not in cfg:
        raise ModelSpecError(f"{name}: adapter_config.json has no `r` (the LoRA rank)")
    _rank(cfg["r"], "r", name)
    if "lora_alpha" in cfg:
        _alpha(cfg["lora_alpha"], "lora_alpha", name)
    _names(cfg.get("target_modules"), "target_modules", name, regex_allowed=True)
    _names(cfg.get("modules_to_save"), "modules_to_save", name, regex_allowed=False)
    _pattern(cfg.get("rank_pattern"), "rank_pattern", name)
    _pattern(cfg.get("alpha_pattern"), "alpha_pattern", name)
    for key in ("fan_in_fan_out", "use_rslora", "use_dora", "lora_bias", "inference_mode"):
        if key in cfg and not isinstance(cfg[key], bool):
            raise ModelSpecError(f"{name}: adapter_config.json {key} is {cfg[key]!r}; it must be true or false")
    if cfg.get("bias", "none") not in BIASES:
        raise ModelSpecError(f"{name}: adapter_config.json bias is {cfg['bias']!r}; it must be one of {', '.join(BIASES)}")
    dropout = cfg.get("lora_dropout", 0.0)
    if not _is_number(dropout) or not 0 <= dropout <= 1:
        raise ModelSpecError(f"{name}: adapter_config.json lora_dropout is {dropout!r}; it must be a number in [0, 1]")
    layers = cfg.get("layers_to_transform")
    if layers is not None and not (
        (_is_int(layers) and layers >= 0) or (isinstance(layers, list) and all(_is_int(x) and x >= 0 for x in layers))
    ):
        raise ModelSpecError(
            f"{name}: adapter_config.json layers_to_transform is {layers!r}; it must be a layer index or a list of them"
        )
    if isinstance(cfg.get("target_modules"), str) and (cfg.get("layers_to_transform") is not None or cfg.get("layers_pattern")):
        raise ModelSpecError(
            f"{name}: adapter_config.json gives target_modules as a regular expression together with layers_to_transform/layers_pattern, which peft refuses"
        )


def module_of(key: str) -> tuple[str, str]:
    """(module path in the base, LoRA part) of a saved adapter tensor name; part '' for a saved whole module."""
    key = key.removeprefix("base_model.model.")
    marker = next((m for m in (".lora_", ".token_adapter.") if m in key), None)
    if marker is not None:
        module, _, rest = key.partition(marker)
        return module, (marker.strip(".") + rest).split(".")[0]
    return key.removesuffix(".weight").removesuffix(".bias"), ""


def rank_of(module: str, cfg: dict[str, Any]) -> tuple[int, str]:
    """The rank peft gives `module` (its path in the base) and where it comes from: the first `rank_pattern`
    key matching the path's end (peft's `get_pattern_key`), else `r`."""
    for key, rank in (cfg.get("rank_pattern") or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return int(rank), f"rank_pattern[{key!r}]"
    return int(cfg["r"]), "r"


def _targeted(module: str, targets: Any) -> bool:
    """Whether peft's `target_modules` selects `module` (a list: by last component(s); a string: a full regex match)."""
    if targets == "all-linear":
        return True  # peft's shorthand for every linear layer but the output head
    if isinstance(targets, str):
        return re.fullmatch(targets, module) is not None
    return any(module == t or module.endswith("." + t) for t in targets)


def check_tensors(shapes: dict[str, list[int]], cfg: dict[str, Any], name: str) -> None:
    """The saved tensors (`shapes`: tensor name → shape) against the config: each LoRA factor's module is one
    `target_modules` selects, each listed target has factors, both factors of a pair are there, and their
    rank is the one the config gives the module."""
    factors: dict[str, dict[str, list[int]]] = {}
    for key, shape in shapes.items():
        module, part = module_of(key)
        if part.startswith("lora_") and key.endswith(".weight"):
            factors.setdefault(module, {})[part] = shape
    targets = cfg.get("target_modules")
    for module in sorted(factors):
        parts = factors[module]
        if targets is not None and any(p in parts for p in PAIRS) and not _targeted(module, targets):
            raise ModelSpecError(f"{name}: the adapter weights change {module}, which target_modules {targets!r} does not select")
        for a, b in PAIRS.items():
            if (a in parts) != (b in parts):
                have, lack = (a, b) if a in parts else (b, a)
                raise ModelSpecError(f"{name}: the adapter weights hold {module}.{have} but no {lack}")
            if a not in parts or len(parts[a]) != 2 or len(parts[b]) != 2:
                continue  # absent, or a convolution's LoRA: peft checks its layout when it applies it
            rank, source = rank_of(module, cfg)
            found = parts[a][0] if parts[a][0] != rank else parts[b][1]
            if found != rank:
                raise ModelSpecError(
                    f"{name}: {module}.{a} {parts[a]} and {b} {parts[b]} are of rank {found}, "
                    f"but adapter_config.json {source} is {rank}"
                )
    if isinstance(targets, list):
        paired = [m for m, parts in factors.items() if any(p in parts for p in PAIRS)]
        idle = [t for t in targets if not any(m == t or m.endswith("." + t) for m in paired)]
        if idle and paired:
            raise ModelSpecError(
                f"{name}: target_modules lists {', '.join(idle)}, but the adapter weights hold no LoRA factors for it "
                "(peft would apply freshly initialised ones)"
            )
