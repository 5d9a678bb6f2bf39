"""The weight-space distance of a resolved checkpoint from its base (`backends.weights` computes it): for a
full-weight checkpoint its weight files against the base's; for a LoRA adapter, each saved pair of
factors with the scale peft applies to it (`lora_alpha`/r, or /√r with `use_rslora`, `alpha_pattern` and
`rank_pattern` matched per module as peft matches them), and each module it saves whole."""

from __future__ import annotations

import json
import re
from typing import Any

from forgetbench.core.errors import ModelSpecError
from forgetbench.core.model import ResolvedModel
from forgetbench.core.results import WeightDistance
from forgetbench.models.adapter import CONFIG, adapter_weights
from forgetbench.models.fingerprint import weight_files
from forgetbench.models.lora_config import PAIRS, module_of, rank_of
from forgetbench.models.validate import tensor_shapes

DEFAULT_ALPHA = 8
"""peft's `LoraConfig.lora_alpha` when the config does not give one."""


def lora_scale(module: str, cfg: dict[str, Any]) -> float:
    """The factor peft multiplies B·A by for `module`: alpha / r (alpha / √r with `use_rslora`), each
    from its pattern when one matches the module's path, as peft's `get_pattern_key` matches."""
    rank, _ = rank_of(module, cfg)
    alpha = cfg.get("lora_alpha", DEFAULT_ALPHA)
    for key, value in (cfg.get("alpha_pattern") or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            alpha = value
            break
    return float(alpha) / (rank**0.5 if cfg.get("use_rslora") else rank)


def weight_distance(base: ResolvedModel, ckpt: ResolvedModel) -> WeightDistance:
    """Every matrix of `base` against `ckpt` (a full-weight model, or a LoRA adapter on `base`)."""
    from forgetbench.backends.weights import LoraPair, full_distances, lora_distances

    base_files = weight_files(base.path)
    if ckpt.adapter is None:
        return WeightDistance(full_distances(base_files, weight_files(ckpt.path)))
    cfg = json.loads((ckpt.adapter.path / CONFIG).read_text())
    if cfg.get("use_dora"):
        raise ModelSpecError(f"{ckpt.name}: a DoRA adapter's weight change is not B·A; weight distances are not computed for it")
    file = adapter_weights(ckpt.adapter.path, ckpt.name)
    shapes = tensor_shapes(file.parent, [file])
    if shapes is None:
        raise ModelSpecError(f"{ckpt.name}: weight distances read an adapter saved as safetensors; this one is {file.name}")
    factors: dict[str, dict[str, str]] = {}
    saved: dict[str, str] = {}
    for key in shapes:
        module, part = module_of(key)
        if part == "":
            if len(shapes[key]) == 2 and key.endswith(".weight"):
                saved[module + ".weight"] = key
        elif part in PAIRS or part in PAIRS.values():
            factors.setdefault(module, {})[part] = key
    pairs = [
        LoraPair(module + ".weight", parts[a], parts[b], lora_scale(module, cfg))
        for module, parts in sorted(factors.items())
        for a, b in PAIRS.items()
        if a in parts and b in parts
    ]
    return WeightDistance(lora_distances(base_files, file, pairs, saved))
