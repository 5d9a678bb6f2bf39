"""`VLLMBackend` through the `Backend` protocol on tiny tokenised models (head size 32, as vLLM's CPU
attention requires): its scores equal the transformers backend's on the same sequences, with every
per-token divergence from vLLM's own prompt log-probs (`--full-scorer vllm`, the reference/compare
memmap) — all but `act`, the hidden-state distance, which vLLM's rows cannot give and this scorer leaves
out —, the noise floor (a second engine) is zero, and a model in another dtype is an engine in that
dtype. vLLM log-probs with the default transformers scorer (`act` included) are checked against the
transformers backend in `test_adapter` (same tolerances), so this module starts no second backend for it
(engine starts dominate the vLLM stage's time)."""

from __future__ import annotations

import numpy as np
import pytest

from forgetbench.backends.base import ModelRef, SamplingRequest
from forgetbench.backends.divergences import ACTIVATION, DIVERGENCES, every_name
from forgetbench.backends.hf.backend import HFBackend
from forgetbench.backends.vllm.backend import VLLMBackend
from forgetbench.backends.vllm.options import VLLMOptions
from forgetbench.core.config import Runtime
from forgetbench.core.progress import Reporter
from forgetbench.models.spec import resolve
from tests.tiny import make_tiny_model

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-vllm-backend")
    base = make_tiny_model(root / "base", seed=0, hidden_size=64, heads=2)
    ckpt = make_tiny_model(root / "ckpt", seed=3, hidden_size=64, heads=2)
    return resolve(str(base)), resolve(str(ckpt))


@pytest.fixture(scope="module")
def scored(models):
    base, ckpt = models
    prompts = [[1, 40, 41, 42], [1, 50, 51], [1, 60, 61, 62, 63]]
    request = SamplingRequest(n=2, max_new_tokens=6, seed=3, stop_ids=(2,), pad_id=2, batch_size=8)
    out = {}
    with VLLMBackend(Runtime(backend="vllm", options=VLLMOptions(full_scorer="vllm"))) as v:
        responses = v.sample(base, prompts, request, Reporter())
        seqs = list(zip([p for p in prompts for _ in range(request.n)], responses, strict=True))
        out["vllm_full"] = v.score(ModelRef(base), ModelRef(ckpt), seqs, 2, every_name(), 4, Reporter())
        out["noise"] = v.score(ModelRef(base), ModelRef(base, replica=1), seqs[:2], 2, every_name(), 4, Reporter())
        # a ModelRef in another dtype is a second engine in that dtype (the precision floor's mechanism; here
        # bfloat16 against the float32 runtime, so the base's float32 rows are reused: one engine start)
        out["bf16"] = v.score(ModelRef(base), ModelRef(base, dtype="bfloat16"), seqs[:2], 2, every_name(), 4, Reporter())
        out["engines"] = v.usage.engines
    with HFBackend(Runtime()) as h:
        out["hf"] = h.score(ModelRef(base), ModelRef(ckpt), seqs, 2, every_name(), 4, Reporter())
    out["responses"] = responses
    return out


def test_sampling_gives_n_responses_per_prompt_ending_at_eos_or_the_limit(scored):
    responses = scored["responses"]
    assert len(responses) == 6 and all(0 < len(r) <= 6 and (len(r) == 6 or r[-1] == 2) for r in responses)


def test_vllm_scores_equal_the_transformers_backend(scored):
    """Every per-token divergence the worker computes from vLLM's rows (`full`, `kl_reverse_tok`, `tv`, `js`)
    equals the transformers scorer's within 1e-4 per token; `act` is the transformers scorer's alone."""
    others = [n for n in DIVERGENCES if n != "full"]
    assert others == ["kl_reverse_tok", "tv", "js"]  # a new registered divergence is compared here too
    for got, want in zip(scored["vllm_full"], scored["hf"], strict=True):
        np.testing.assert_allclose(got.logp, want.logp, atol=1e-4)
        np.testing.assert_allclose(got.logq, want.logq, atol=1e-4)
        np.testing.assert_allclose(got.kl, want.kl, atol=1e-4)
        assert sorted(got.divergences) == sorted(others) and sorted(want.divergences) == sorted([*others, ACTIVATION])
        for name in others:
            assert got.divergences[name].dtype == np.float32 and got.divergences[name].shape == got.kl.shape
            np.testing.assert_allclose(got.divergences[name], want.divergences[name], atol=1e-4, err_msg=name)
    for name in ("full", *others, ACTIVATION):  # different models: every comparison is not vacuous
        total = sum(float((s.kl if name == "full" else s.divergences[name]).sum()) for s in scored["hf"])
        assert total > 0.01, name


def test_the_noise_floor_of_a_second_engine_is_zero(scored):
    for s in scored["noise"]:
        assert np.abs(s.logp - s.logq).max() < 1e-5 and np.abs(s.kl).max() < 1e-5
        assert ACTIVATION not in s.divergences
        assert all(np.abs(s.divergences[name]).max() < 1e-5 for name in ("kl_reverse_tok", "tv", "js"))


def test_a_model_ref_in_another_dtype_is_an_engine_in_that_dtype(scored):
    """`ModelRef(dtype=...)` different from the runtime's is a second engine in that dtype (how the precision
    floor compares a bfloat16 run with float32): its log-probs are the bfloat16 model's — near the float32
    ones, not equal — and the KL between the two is positive."""
    assert scored["engines"] == 4  # base, checkpoint, the base's noise copy, the base in bfloat16
    for low, want in zip(scored["bf16"], scored["hf"][:2], strict=True):
        np.testing.assert_allclose(low.logp, want.logp, atol=1e-4)  # the float32 engine's rows, reused
        assert not np.allclose(low.logq, low.logp, atol=1e-6) and np.abs(low.logq - low.logp).max() < 0.1
    assert sum(float(s.kl.sum()) for s in scored["bf16"]) > 0
