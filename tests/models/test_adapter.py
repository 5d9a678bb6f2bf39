"""PEFT (LoRA) adapters as checkpoints, on tiny models with adapters made on the spot with peft: the
adapter on its base computes what the merged full-weight folder computes (KL within 1e-5, suite items
identical), and bad adapters are refused before any model is loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from forgetbench.core.config import EvalConfig, KLConfig, Runtime
from forgetbench.core.errors import BackendUnavailable, ModelSpecError
from forgetbench.models import adapter as adapter_mod
from forgetbench.models.spec import resolve
from forgetbench.pipeline.kl import measure_kl
from forgetbench.prior.run import evaluate
from tests.tiny import make_lora, make_tiny_model, merge_lora


@pytest.fixture(scope="module")
def lora(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """A random LoRA on the tiny model, and the full-weight folder with it merged."""
    root = tmp_path_factory.mktemp("lora")
    adapter = make_lora(tiny_model, root / "adapter")
    return {"adapter": adapter, "merged": merge_lora(tiny_model, adapter, root / "merged")}


def _edit(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "adapter_config.json").read_text())
    (dst / "adapter_config.json").write_text(json.dumps({**cfg, **changes}))
    return dst


def test_an_adapter_resolves_on_its_base_with_its_own_fingerprint(tiny_model, lora):
    base = resolve(str(tiny_model))
    ckpt = resolve(str(lora["adapter"]), base=base)
    merged = resolve(str(lora["merged"]))
    assert ckpt.path == base.path and ckpt.adapter is not None
    assert ckpt.adapter.matched_by == "name" and ckpt.adapter.rank == 4 and ckpt.adapter.peft_type == "LORA"
    assert len({base.fingerprint.digest, ckpt.fingerprint.digest, merged.fingerprint.digest}) == 3
    assert ckpt.fingerprint.tokenizer == base.fingerprint.tokenizer
    info = ckpt.info()
    assert (
        info.adapter is not None and info.adapter.path == str(lora["adapter"]) and info.adapter.declared_base == str(tiny_model)
    )
    # Without a base, an adapter runs on the base it declares.
    assert resolve(str(lora["adapter"])).fingerprint == ckpt.fingerprint


def test_kl_to_the_adapter_equals_kl_to_the_merged_folder(tiny_model, lora, tmp_path, store):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps({"prompt": t}) for t in ["The quick brown fox", "Seven red apples", "Fog forms"]))

    def kl(ckpt: Path):
        config = KLConfig(str(tiny_model), str(ckpt), prompts=str(prompts), n_prompts=3, max_new_tokens=10,
                          samples_per_prompt=2, noise_floor_prompts=0, runtime=Runtime(batch_size=4))  # fmt: skip
        return measure_kl(config, store)

    a, m = kl(lora["adapter"]), kl(lora["merged"])
    assert a.result.samples_cached is False and m.result.samples_cached is True  # one base, one set of samples
    assert {e.name: e.mean for e in a.result.estimates}["full"] > 1e-3  # the adapter changes the model
    for name in ("full", "k1", "k3"):
        np.testing.assert_allclose([r[name] for r in a.rows], [r[name] for r in m.rows], atol=1e-5, rtol=0)
    assert a.result.ckpt.adapter is not None and m.result.ckpt.adapter is None


def test_suite_outcomes_of_the_adapter_are_item_identical_to_the_merged_folder(tiny_model, lora, custom_suites, store):
    suite = custom_suites("one", {"fb_piqa_lite": "acc"})

    def items(model: Path, base: Path | None):
        config = EvalConfig(str(model), base=str(base) if base else None, suite=suite, limit=12, runtime=Runtime(batch_size=4))
        return [(i.doc_id, i.score) for i in evaluate(config, store).tasks[0].items]

    assert items(lora["adapter"], tiny_model) == items(lora["merged"], None)


def test_an_adapter_for_a_base_found_here_with_other_contents_is_refused(tiny_model, lora, tmp_path):
    base = resolve(str(tiny_model))
    wider = make_tiny_model(tmp_path / "wider", hidden_size=64, heads=2)
    local = _edit(lora["adapter"], tmp_path / "local", base_model_name_or_path=str(wider))
    with pytest.raises(
        ModelSpecError, match=rf"an adapter for {wider}, whose weights and config differ from the base {tiny_model}'s"
    ):
        resolve(str(local), base=base)


def test_a_declared_base_not_found_here_is_unverified_and_warned(tiny_model, lora, tmp_path):
    base = resolve(str(tiny_model))
    for declared in ("org/another-model", str(tmp_path / "moved-away")):
        elsewhere = _edit(lora["adapter"], tmp_path / declared.replace("/", "_"), base_model_name_or_path=declared)
        ckpt = resolve(str(elsewhere), base=base)
        assert ckpt.adapter is not None and ckpt.adapter.matched_by == "unverified"
        assert (
            ckpt.adapter.warning is not None and repr(declared) in ckpt.adapter.warning and "unverified" in ckpt.adapter.warning
        )


def test_a_local_base_with_the_same_weights_config_and_tokenizer_matches(tiny_model, lora, tmp_path):
    copy = Path(shutil.copytree(tiny_model, tmp_path / "copy"))
    ckpt = resolve(str(lora["adapter"]), base=resolve(str(copy)))
    assert ckpt.adapter is not None and ckpt.adapter.matched_by == "weights" and ckpt.adapter.warning is None


def test_modules_the_base_lacks_are_refused(tiny_model, lora, tmp_path):
    base = resolve(str(tiny_model))
    named = _edit(lora["adapter"], tmp_path / "named", target_modules=["q_proj", "wq"])
    with pytest.raises(ModelSpecError, match=r"targets modules the base .* lacks: wq"):
        resolve(str(named), base=base)
    wider = make_tiny_model(tmp_path / "wider", hidden_size=64, heads=2)
    declared_wider = _edit(lora["adapter"], tmp_path / "declared", base_model_name_or_path=str(wider))
    with pytest.raises(ModelSpecError, match=r"lora_A.weight has shape \[4, 32\], which does not fit"):
        resolve(str(declared_wider), base=resolve(str(wider)))


def test_mixed_tokenizers_are_refused(tiny_model, lora, tmp_path):
    other_tok = make_tiny_model(tmp_path / "smallvocab", vocab_size=300)
    mixed = Path(shutil.copytree(lora["adapter"], tmp_path / "mixed"))
    for f in other_tok.glob("tokenizer*"):
        shutil.copy(f, mixed / f.name)
    with pytest.raises(ModelSpecError, match="mixed tokenizers"):
        resolve(str(mixed), base=resolve(str(tiny_model)))
    same = Path(shutil.copytree(lora["adapter"], tmp_path / "same"))
    for f in tiny_model.glob("tokenizer*"):
        shutil.copy(f, same / f.name)
    assert resolve(str(same), base=resolve(str(tiny_model))).adapter is not None


def test_a_checkpoint_still_being_written_is_refused(tiny_model, lora, tmp_path):
    partial = Path(shutil.copytree(lora["adapter"], tmp_path / "partial"))
    (partial / "adapter_model.safetensors").unlink()
    with pytest.raises(ModelSpecError, match="adapter weights missing"):
        resolve(str(partial), base=resolve(str(tiny_model)))
    data = (lora["adapter"] / "adapter_model.safetensors").read_bytes()
    (partial / "adapter_model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelSpecError, match="truncated"):
        resolve(str(partial), base=resolve(str(tiny_model)))


def test_other_peft_methods_and_an_adapter_on_an_adapter_are_refused(tiny_model, lora, tmp_path):
    base = resolve(str(tiny_model))
    ia3 = _edit(lora["adapter"], tmp_path / "ia3", peft_type="IA3")
    with pytest.raises(ModelSpecError, match="IA3 adapter; forgetbench applies LoRA adapters only"):
        resolve(str(ia3), base=base)
    with pytest.raises(ModelSpecError, match="cannot be the base of another adapter"):
        resolve(str(lora["adapter"]), base=resolve(str(lora["adapter"]), base=base))


def test_without_peft_an_adapter_is_the_install_line(tiny_model, lora, monkeypatch):
    monkeypatch.setattr(adapter_mod, "find_spec", lambda name: None)
    with pytest.raises(BackendUnavailable, match="pip install peft"):
        resolve(str(lora["adapter"]), base=resolve(str(tiny_model)))


def test_an_adapter_on_tied_embeddings_is_refused(tiny_model, tmp_path):
    """Merging a LoRA on the embedding of a base whose output head shares it would change both sides."""
    import torch
    from safetensors.torch import load_file, save_file

    tied = Path(shutil.copytree(tiny_model, tmp_path / "tied"))
    cfg = json.loads((tied / "config.json").read_text())
    (tied / "config.json").write_text(json.dumps({**cfg, "tie_word_embeddings": True}))
    tensors = {k: v for k, v in load_file(tied / "model.safetensors").items() if k != "lm_head.weight"}
    save_file(tensors, tied / "model.safetensors", metadata={"format": "pt"})
    torch.manual_seed(0)
    adapter = make_lora(tied, tmp_path / "embed", targets=("embed_tokens", "q_proj"))
    with pytest.raises(ModelSpecError, match="tied"):
        resolve(str(adapter), base=resolve(str(tied)))


def test_vllm_refuses_what_its_lora_would_serve_wrongly(tiny_model, lora, tmp_path):
    from dataclasses import replace

    from forgetbench.backends.vllm.backend import check_servable
    from forgetbench.core.errors import UserInputError

    ckpt = resolve(str(lora["adapter"]), base=resolve(str(tiny_model)))
    assert ckpt.adapter is not None and ckpt.adapter.modules == ("q_proj", "v_proj")
    check_servable(ckpt, None)
    for change, needle in ((dict(modules=("lm_head", "q_proj")), "vllm#51594"), (dict(extras=("use_dora",)), "use_dora"),
                           (dict(rank=1024), "largest LoRA rank")):  # fmt: skip
        with pytest.raises(UserInputError, match=needle):
            check_servable(replace(ckpt, adapter=replace(ckpt.adapter, **change)), None)
    with pytest.raises(UserInputError, match="--max-lora-rank 1 is below"):
        check_servable(ckpt, 1)
