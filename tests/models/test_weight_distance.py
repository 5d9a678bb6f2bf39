"""Weight-space distances against an independent computation: numpy in float64 on the saved tensors (the
LoRA update formed as scale·B·A, σ₁ from a full SVD), for a full-weight checkpoint, a LoRA adapter (with
rank/alpha patterns, rsLoRA and a module saved whole) and the merged model the adapter equals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from forgetbench.backends.weights import spectral_norm
from forgetbench.core.errors import ModelSpecError
from forgetbench.core.results import layer_of
from forgetbench.models.spec import resolve
from forgetbench.models.weight_distance import weight_distance
from tests.tiny import make_lora, merge_lora


def _tensors(folder: Path, name: str = "model.safetensors") -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return {k: v.astype(np.float64) for k, v in load_file(folder / name).items()}


def _expected(base: dict[str, np.ndarray], deltas: dict[str, np.ndarray]) -> dict[str, tuple[float, float, float]]:
    """(‖W‖, ‖ΔW‖, σ₁(ΔW)) per 2-D base tensor, by plain numpy."""
    out = {}
    for name, w in base.items():
        if w.ndim != 2:
            continue
        d = deltas.get(name, np.zeros_like(w))
        out[name] = (np.linalg.norm(w), np.linalg.norm(d), np.linalg.svd(d, compute_uv=False)[0])
    return out


def _check(found, expected, rtol: float) -> None:
    assert {m.name for m in found.matrices} == set(expected)
    for m in found.matrices:
        norm, delta, sigma = expected[m.name]
        assert m.norm == pytest.approx(norm, rel=1e-9)
        assert m.delta_norm == pytest.approx(delta, rel=rtol, abs=1e-12)
        assert m.spectral == pytest.approx(sigma, rel=rtol, abs=1e-12)
        assert m.spectral <= m.delta_norm * (1 + 1e-9)


@pytest.fixture(scope="module")
def changed(tiny_model, tmp_path_factory) -> Path:
    """The tiny model with three matrices moved (one by a rank-one change, two by noise)."""
    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(tiny_model, tmp_path_factory.mktemp("wd") / "changed")
    tensors = load_file(folder / "model.safetensors")
    gen = torch.Generator().manual_seed(1)
    names = sorted(k for k, v in tensors.items() if v.ndim == 2)
    q = next(n for n in names if "q_proj" in n)
    tensors[q] += 0.3 * torch.outer(
        torch.randn(tensors[q].shape[0], generator=gen), torch.randn(tensors[q].shape[1], generator=gen)
    )
    for n in (names[0], names[-1]):
        tensors[n] += 0.01 * torch.randn(tensors[n].shape, generator=gen)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def test_a_full_weight_checkpoint_matches_numpy(tiny_model, changed):
    base, ckpt = _tensors(tiny_model), _tensors(changed)
    found = weight_distance(resolve(str(tiny_model)), resolve(str(changed)))
    _check(found, _expected(base, {k: ckpt[k] - base[k] for k in base}), rtol=1e-5)
    d2 = sum(np.sum((ckpt[k] - base[k]) ** 2) for k in base if base[k].ndim == 2)
    w2 = sum(np.sum(base[k] ** 2) for k in base if base[k].ndim == 2)
    assert found.relative == pytest.approx(np.sqrt(d2 / w2), rel=1e-6)
    layers = found.per_layer()
    assert list(layers) == ["0", "1", "other"]
    for layer, value in layers.items():
        keys = [k for k in base if base[k].ndim == 2 and layer_of(k) == layer]
        want = np.sqrt(sum(np.sum((ckpt[k] - base[k]) ** 2) for k in keys) / sum(np.sum(base[k] ** 2) for k in keys))
        assert value == pytest.approx(want, rel=1e-6, abs=1e-15)


def test_the_base_against_itself_is_exactly_zero(tiny_model):
    found = weight_distance(resolve(str(tiny_model)), resolve(str(tiny_model)))
    assert found.relative == 0.0 and found.spectral_max == 0.0
    assert all(m.delta_norm == 0.0 and m.spectral == 0.0 for m in found.matrices)


def _adapter_config(folder: Path, **changes) -> None:
    path = folder / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"rank_pattern": {"v_proj": 2}, "alpha_pattern": {"q_proj": 3.0}},
        {"use_rslora": True},
        {"modules_to_save": ["lm_head"]},
    ],
    ids=["plain", "patterns", "rslora", "saved-head"],
)
def test_a_lora_adapter_matches_numpy_and_its_merged_model(tiny_model, tmp_path, config):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, lora_dropout=0.0, **config)
    peft_model = get_peft_model(model, lora)
    if "modules_to_save" in config:
        with torch.no_grad():
            head = peft_model.base_model.model.lm_head.modules_to_save["default"]
            head.weight += 0.05 * torch.randn(head.weight.shape)
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)

    base_t = _tensors(tiny_model)
    merged = merge_lora(tiny_model, adapter, tmp_path / "merged")
    merged_t = _tensors(merged)
    base = resolve(str(tiny_model))
    found = weight_distance(base, resolve(str(adapter), base=base))
    # Independent: the update formed densely in float64 from the saved factors and the config's scales.
    saved = _tensors(adapter, "adapter_model.safetensors")
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    deltas = {}
    for key, a in saved.items():
        if ".lora_A." not in key:
            continue
        module = key.removeprefix("base_model.model.").split(".lora_A.")[0]
        b = saved[key.replace("lora_A", "lora_B")]
        short = module.rsplit(".", 1)[-1]
        r = (cfg.get("rank_pattern") or {}).get(short, cfg["r"])
        alpha = (cfg.get("alpha_pattern") or {}).get(short, cfg["lora_alpha"])
        deltas[module + ".weight"] = alpha / (np.sqrt(r) if cfg.get("use_rslora") else r) * (b @ a)
    for key, w in saved.items():
        if ".lora_" not in key:
            name = key.removeprefix("base_model.model.")
            deltas[name] = w - base_t[name]
    assert len(deltas) == 4 + ("modules_to_save" in config)
    _check(found, _expected(base_t, deltas), rtol=1e-6)
    # The merged model (float32 weights) gives the same numbers as the adapter, to float32 rounding.
    _check(found, _expected(base_t, {k: merged_t[k] - base_t[k] for k in base_t}), rtol=2e-3)


def test_a_dora_adapter_is_refused_in_one_line(tiny_model, tmp_path):
    adapter = make_lora(tiny_model, tmp_path / "dora")
    _adapter_config(adapter, use_dora=True)
    base = resolve(str(tiny_model))
    ckpt = resolve(str(adapter), base=base)
    with pytest.raises(ModelSpecError, match="DoRA adapter's weight change is not B·A"):
        weight_distance(base, ckpt)


def test_power_iteration_finds_sigma_one_with_a_small_gap():
    """Singular values 1.0 and 0.999 (a slow case for power iteration) and a rank-one matrix."""
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(60, 20)))
    v, _ = np.linalg.qr(rng.normal(size=(30, 20)))
    s = np.linspace(0.999, 0.1, 20)
    s[0] = 1.0
    m = torch.tensor(u @ np.diag(s) @ v.T)
    sigma = spectral_norm(lambda x: m @ x, lambda y: m.T @ y, 30)
    assert sigma == pytest.approx(1.0, rel=1e-3) and sigma <= 1.0 + 1e-12
    one = torch.tensor(np.outer(rng.normal(size=7), rng.normal(size=5)))
    assert spectral_norm(lambda x: one @ x, lambda y: one.T @ y, 5) == pytest.approx(np.linalg.norm(one.numpy(), 2), rel=1e-9)
