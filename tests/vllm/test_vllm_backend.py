"""`VLLMBackend` through the `Backend` protocol on tiny tokenised models (head size 32, as vLLM's CPU
attention requires): its scores equal the transformers backend's on the same sequences, with the
full-vocabulary KL from vLLM's own prompt log-probs (`--full-scorer vllm`, the reference/compare
memmap) and from the transformers scorer (`hf`), and the noise floor (a second engine) is zero."""

from __future__ import annotations

import numpy as np
import pytest

from forgetbench.backends.base import ModelRef, SamplingRequest
from forgetbench.backends.hf.backend import HFBackend
from forgetbench.backends.vllm.backend import VLLMBackend
from forgetbench.core.config import Runtime, VLLMOptions
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
    with VLLMBackend(Runtime(backend="vllm", vllm=VLLMOptions(full_scorer="vllm"))) as v:
        responses = v.sample(base, prompts, request, Reporter())
        seqs = list(zip([p for p in prompts for _ in range(request.n)], responses, strict=True))
        out["vllm_full"] = v.score(ModelRef(base), ModelRef(ckpt), seqs, 2, True, 4, Reporter())
        out["noise"] = v.score(ModelRef(base), ModelRef(base, replica=1), seqs[:2], 2, True, 4, Reporter())
    with VLLMBackend(Runtime(backend="vllm")) as v:
        out["hf_full"] = v.score(ModelRef(base), ModelRef(ckpt), seqs, 2, True, 4, Reporter())
    with HFBackend(Runtime()) as h:
        out["hf"] = h.score(ModelRef(base), ModelRef(ckpt), seqs, 2, True, 4, Reporter())
    out["responses"] = responses
    return out


def test_sampling_gives_n_responses_per_prompt_ending_at_eos_or_the_limit(scored):
    responses = scored["responses"]
    assert len(responses) == 6 and all(0 < len(r) <= 6 and (len(r) == 6 or r[-1] == 2) for r in responses)


@pytest.mark.parametrize("variant", ["vllm_full", "hf_full"])
def test_vllm_scores_equal_the_transformers_backend(scored, variant):
    for got, want in zip(scored[variant], scored["hf"], strict=True):
        np.testing.assert_allclose(got.logp, want.logp, atol=1e-4)
        np.testing.assert_allclose(got.logq, want.logq, atol=1e-4)
        np.testing.assert_allclose(got.kl, want.kl, atol=1e-4)
    assert sum(float(s.kl.sum()) for s in scored["hf"]) > 0.01  # different models: the check is not vacuous


def test_the_noise_floor_of_a_second_engine_is_zero(scored):
    for s in scored["noise"]:
        assert np.abs(s.logp - s.logq).max() < 1e-5 and np.abs(s.kl).max() < 1e-5


def test_a_float32_engine_for_the_precision_floor(models):
    """`ModelRef(dtype="float32")` under a bfloat16 runtime is a second engine in float32: its log-probs
    are the float32 transformers model's, and KL(bf16 ‖ fp32) is positive (what the precision floor measures)."""
    base, _ = models
    seqs = [([1, 40, 41, 42], [43, 44, 2]), ([1, 50, 51], [52, 53, 54, 55])]
    with VLLMBackend(Runtime(backend="vllm", dtype="bfloat16")) as v:
        low = v.score(ModelRef(base), ModelRef(base, dtype="float32"), seqs, 2, True, 4, Reporter())
    with HFBackend(Runtime(dtype="float32")) as h:
        fp32 = h.score(ModelRef(base), ModelRef(base, replica=1), seqs, 2, False, 4, Reporter())
    for got, want in zip(low, fp32, strict=True):
        np.testing.assert_allclose(got.logq, want.logp, atol=1e-4)
    assert sum(float(s.kl.sum()) for s in low) > 0
    assert any(not np.allclose(s.logp, s.logq, atol=1e-6) for s in low)  # the bf16 engine differs from fp32
