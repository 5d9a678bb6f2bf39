"""A LoRA adapter's whole config, and its tensors against it, checked when it is resolved (headers only):
each broken config is one line and exit 2 before any model loads, where peft used to fail mid-run (exit 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from forgetbench.core.errors import ModelSpecError
from forgetbench.models.spec import resolve
from tests.tiny import make_lora

# (change to adapter_config.json — None removes the key —, the refusal it gets)
BAD = {
    "r missing": ({"r": None}, "has no `r`"),
    "r zero": ({"r": 0}, r"r is 0; a LoRA rank is a whole number ≥ 1"),
    "r negative": ({"r": -4}, r"r is -4; a LoRA rank"),
    "r not an integer": ({"r": 4.5}, r"r is 4.5; a LoRA rank"),
    "r a string": ({"r": "4"}, r"r is '4'; a LoRA rank"),
    "r contradicts the tensors": (
        {"r": 8},
        r"q_proj\.lora_A \[4, 32\] and lora_B \[32, 4\] are of rank 4, but adapter_config.json r is 8",
    ),
    "lora_alpha zero": ({"lora_alpha": 0}, r"lora_alpha is 0; it must be a positive number"),
    "lora_alpha a string": ({"lora_alpha": "16"}, r"lora_alpha is '16'"),
    "target_modules empty": ({"target_modules": []}, r"target_modules is empty"),
    "target_modules not names": ({"target_modules": ["q_proj", 3]}, r"target_modules is \['q_proj', 3\]"),
    "target_modules bad regex": ({"target_modules": "(q_proj"}, r"target_modules '\(q_proj' is not a valid regular expression"),
    "target_modules missing a tensor's module": ({"target_modules": ["q_proj"]}, r"change .*v_proj, which target_modules"),
    "target_modules listing a module without tensors": (
        {"target_modules": ["q_proj", "v_proj", "k_proj"]},
        r"lists k_proj, but the adapter weights hold no LoRA factors for it",
    ),
    "rank_pattern zero": ({"rank_pattern": {"q_proj": 0}}, r"rank_pattern\['q_proj'\] is 0"),
    "rank_pattern contradicts the tensors": (
        {"rank_pattern": {"v_proj": 2}},
        r"v_proj\.lora_A \[4, 32\] .* rank 4, but adapter_config.json rank_pattern\['v_proj'\] is 2",
    ),
    "rank_pattern not a mapping": ({"rank_pattern": [4]}, r"rank_pattern is \[4\]; it must map module names"),
    "alpha_pattern negative": ({"alpha_pattern": {"q_proj": -1}}, r"alpha_pattern\['q_proj'\] is -1"),
    "bias unknown": ({"bias": "some"}, r"bias is 'some'; it must be one of none, all, lora_only"),
    "fan_in_fan_out not a flag": ({"fan_in_fan_out": "no"}, r"fan_in_fan_out is 'no'; it must be true or false"),
    "lora_dropout out of range": ({"lora_dropout": 1.5}, r"lora_dropout is 1.5"),
    "layers_to_transform negative": ({"layers_to_transform": [-1]}, r"layers_to_transform is \[-1\]"),
}


@pytest.fixture(scope="module")
def adapter(tiny_model, tmp_path_factory) -> Path:
    return make_lora(tiny_model, tmp_path_factory.mktemp("cfg") / "adapter")


def edited(adapter: Path, folder: Path, change: dict) -> Path:
    """A copy of `adapter` with `change` applied to its adapter_config.json (a None value removes the key)."""
    shutil.copytree(adapter, folder)
    cfg = json.loads((folder / "adapter_config.json").read_text())
    cfg = {k: v for k, v in {**cfg, **change}.items() if v is not None}
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    return folder


@pytest.mark.parametrize("case", list(BAD))
def test_a_broken_adapter_config_is_one_line_before_any_model_loads(case, tiny_model, adapter, tmp_path, monkeypatch):
    from forgetbench.backends.hf import lm_eval as hf_lm_eval

    change, needle = BAD[case]
    monkeypatch.setattr(hf_lm_eval, "lm_eval_model", lambda *a, **k: pytest.fail("model loaded"))
    bad = edited(adapter, tmp_path / "bad", change)
    with pytest.raises(ModelSpecError, match=needle) as refused:
        resolve(str(bad), base=resolve(str(tiny_model)))
    assert "\n" not in str(refused.value) and str(refused.value).startswith(f"{bad}: ")


def test_valid_variants_pass(tiny_model, adapter, tmp_path):
    base = resolve(str(tiny_model))
    for i, change in enumerate(
        (
            {"rank_pattern": {"v_proj": 4}, "alpha_pattern": {"q_proj": 2.5}},
            {"target_modules": ".*\\.(q_proj|v_proj)"},
            {"target_modules": "all-linear"},
            {"lora_alpha": None, "layers_to_transform": [0, 1]},
        )
    ):
        ckpt = resolve(str(edited(adapter, tmp_path / f"ok{i}", change)), base=base)
        assert ckpt.adapter is not None and ckpt.adapter.rank == 4


def test_a_missing_factor_is_refused(tiny_model, adapter, tmp_path):
    from safetensors.torch import load_file, save_file

    broken = Path(shutil.copytree(adapter, tmp_path / "half"))
    tensors = load_file(broken / "adapter_model.safetensors")
    dropped = sorted(k for k in tensors if "lora_B" in k)[0]
    save_file({k: v for k, v in tensors.items() if k != dropped}, broken / "adapter_model.safetensors")
    with pytest.raises(ModelSpecError, match=r"hold .*q_proj\.lora_A but no lora_B"):
        resolve(str(broken), base=resolve(str(tiny_model)))


def test_through_the_cli_a_broken_config_is_exit_2_one_line_nothing_written(tiny_model, adapter, tmp_path):
    """Where peft used to stop the run mid-way (exit 3, a cut-off message): exit 2, one line, before any write."""
    from tests.cli.test_cli import _assert_one_line_error
    from tests.command import fb

    bad = edited(adapter, tmp_path / "bad", {"r": 8})
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "The quick brown fox"}\n')
    out, store = tmp_path / "run", tmp_path / "store"
    proc = fb("kl", str(tiny_model), str(bad), "--prompts", str(prompts), "--out", str(out), "--store", str(store))
    _assert_one_line_error(proc, 2, f"{bad}: model.layers.0.self_attn.q_proj.lora_A [4, 32] and lora_B [32, 4] are of rank 4")
    assert [p for p in tmp_path.rglob("*") if p.is_file() and (out in p.parents or store in p.parents)] == []
