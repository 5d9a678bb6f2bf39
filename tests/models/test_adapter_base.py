"""An adapter's declared base against the base it is applied to, by contents: a sibling fine-tune with the
base's config and tokenizer but other weights (as a local folder, or as a hub id in the Hugging Face cache)
is refused — exit 2, one line, nothing written — unless `--allow-base-mismatch`, which measures and records
it; a declared base that is not on the machine is measured with a warning in report.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from forgetbench.core.config import ScoreConfig
from forgetbench.core.errors import ModelSpecError
from forgetbench.core.store import Store
from forgetbench.models.spec import resolve
from forgetbench.pipeline.score import score
from forgetbench.runs import load_report
from tests.cli.test_cli import _assert_one_line_error
from tests.command import fb
from tests.tiny import make_lora

OPTIONS = {"suite": "one", "limit": 4, "n_prompts": 3, "max_new_tokens": 6, "noise_floor_prompts": 0, "batch_size": 4}


def sibling(model: Path, folder: Path) -> Path:
    """A copy of `model` with one weight changed: same config and tokenizer, other weights (a sibling fine-tune)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(model, folder)
    tensors = load_file(folder / "model.safetensors")
    tensors[sorted(tensors)[0]].view(-1)[0] += 0.5
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def declaring(adapter: Path, folder: Path, declared: str) -> Path:
    """A copy of `adapter` whose adapter_config.json declares `declared` as its base."""
    shutil.copytree(adapter, folder)
    cfg = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**cfg, "base_model_name_or_path": declared}))
    return folder


@pytest.fixture(scope="module")
def adapters(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """An adapter trained (declared) on a sibling of the tiny model, and one whose declared base is gone."""
    root = tmp_path_factory.mktemp("base-match")
    other = sibling(tiny_model, root / "sibling")
    adapter = make_lora(tiny_model, root / "adapter")
    return {
        "sibling": other,
        "on_sibling": declaring(adapter, root / "on-sibling", str(other)),
        "gone": declaring(adapter, root / "gone", str(root / "deleted-base")),
    }


def test_a_sibling_with_the_same_config_and_tokenizer_but_other_weights_is_refused(tiny_model, adapters):
    base = resolve(str(tiny_model))
    assert resolve(str(adapters["sibling"])).fingerprint.config == base.fingerprint.config  # only the weights differ
    with pytest.raises(ModelSpecError) as refused:
        resolve(str(adapters["on_sibling"]), base=base)
    assert str(refused.value) == (
        f"{adapters['on_sibling']}: an adapter for {adapters['sibling']}, whose weights differ from the base {tiny_model}'s; "
        "give the base it was trained on, or pass --allow-base-mismatch to measure anyway"
    )
    allowed = resolve(str(adapters["on_sibling"]), base=base, allow_base_mismatch=True)
    assert allowed.adapter is not None and allowed.adapter.matched_by == "mismatch allowed"
    # On the base it declares, it is matched as that base's own folder.
    on_its_own = resolve(str(adapters["on_sibling"]), base=resolve(str(adapters["sibling"])))
    assert on_its_own.adapter is not None and on_its_own.adapter.matched_by == "name" and on_its_own.adapter.warning is None


def test_a_hub_id_in_the_local_cache_is_compared_by_weights(tiny_model, adapters, tmp_path, monkeypatch):
    """A declared hub id is looked up in the Hugging Face cache, offline: found there, its weights decide."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    base = resolve(str(tiny_model))

    def cached(repo: str, model: Path) -> None:
        entry = cache / f"models--{repo.replace('/', '--')}"
        shutil.copytree(model, entry / "snapshots" / ("a" * 40))
        (entry / "refs").mkdir()
        (entry / "refs" / "main").write_text("a" * 40)

    cached("org/same", tiny_model)
    cached("org/sibling", adapters["sibling"])
    same = resolve(str(declaring(adapters["gone"], tmp_path / "a", "org/same")), base=base)
    assert same.adapter is not None and same.adapter.matched_by == "weights"
    with pytest.raises(ModelSpecError, match="an adapter for org/sibling, whose weights differ"):
        resolve(str(declaring(adapters["gone"], tmp_path / "b", "org/sibling")), base=base)
    missing = resolve(str(declaring(adapters["gone"], tmp_path / "c", "org/not-cached")), base=base)
    assert missing.adapter is not None and missing.adapter.matched_by == "unverified"


def test_the_cli_refuses_a_sibling_base_with_one_line_and_writes_nothing(tiny_model, adapters, tmp_path, custom_suites):
    custom_suites("one", {"fb_piqa_lite": "acc"})
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "The quick brown fox"}) + "\n")
    out, store = tmp_path / "run", tmp_path / "store"
    args = ["--new-task", str(prompts), "--suite", "one", "--limit", "2", "--out", str(out), "--store", str(store)]
    proc = fb("score", str(tiny_model), str(adapters["on_sibling"]), *args)
    _assert_one_line_error(proc, 2, f"an adapter for {adapters['sibling']}, whose weights differ from the base")
    assert not any(p.is_file() for p in out.rglob("*")) if out.exists() else True  # no run folder contents
    assert not any(p.is_file() for p in store.rglob("*")) if store.exists() else True  # no store entry


def test_measured_anyway_or_unverified_the_report_says_so(tiny_model, adapters, tmp_path, custom_suites):
    custom_suites("one", {"fb_piqa_lite": "acc"})
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps({"prompt": t}) for t in ["The quick brown fox", "Seven red apples", "Fog forms"]))
    store = Store(tmp_path / "store")

    def report(ckpt: Path, out: str, **options):
        config = ScoreConfig.build(str(tiny_model), str(ckpt), str(prompts), **OPTIONS, **options)
        score(config, store=store, out=tmp_path / out)
        return load_report(tmp_path / out)

    allowed = report(adapters["on_sibling"], "allowed", allow_base_mismatch=True)
    assert allowed.ckpt.adapter is not None and allowed.ckpt.adapter.matched_by == "mismatch allowed"
    assert [w for w in allowed.warnings if "--allow-base-mismatch" in w] == [
        f"the adapter {adapters['on_sibling']} was trained on {adapters['sibling']}, whose weights differ from the base "
        f"{tiny_model}'s; measured anyway (--allow-base-mismatch): its results are of a model nobody trained"
    ]
    gone = report(adapters["gone"], "gone")
    assert gone.ckpt.adapter is not None and gone.ckpt.adapter.matched_by == "unverified"
    assert any("deleted-base" in w and "unverified" in w for w in gone.warnings)
