"""KL estimators against the exact sequence-level KL computed by enumerating every response.

Tiny models over a 6-token vocabulary (EOS = 1), responses of at most 3 tokens: there are
1 + 5 + 5·5·6 = 156 possible responses, few enough to enumerate. The exact values come from this
file's own enumeration — one plain forward pass per response and a float64 softmax — never from
forgetbench's scorer, so an error in the scorer cannot cancel out; the scorer is then checked
against them token by token.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from forgetbench.backends.hf import scorer as hf_scorer
from forgetbench.kl.estimators import sequence_estimates
from forgetbench.stats.bootstrap import mean_test
from tests.tiny import perturbed, tiny_lm

# The sampler drives the model's key/value cache through the argument transformers keeps (`cache` from
# 5.2x on, `past_key_values` before): a deprecation warning here is a failure.
pytestmark = pytest.mark.filterwarnings("error::FutureWarning")

V, EOS, PAD, T = 6, 1, 1, 3
PROMPT = [0, 2, 3]


def all_responses() -> list[list[int]]:
    out = []
    for length in range(1, T + 1):
        for ys in itertools.product(range(V), repeat=length):
            if EOS in ys[:-1]:
                continue  # generation stops at the first EOS
            if length < T and ys[-1] != EOS:
                continue  # shorter responses exist only when they end with EOS
            out.append(list(ys))
    return out


@pytest.fixture(scope="module")
def models():
    base = tiny_lm(V, seed=0)
    return base, perturbed(base, 0.3)


def plain_token_scores(model, response: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per response token: log p(y_t | x, y_<t) and the whole next-token log-distribution, from one
    unpadded forward pass of `model` over prompt + response and a float64 log-softmax."""
    import torch

    ids = torch.tensor([PROMPT + response])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    dist = torch.log_softmax(logits[len(PROMPT) - 1 : -1], dim=-1).numpy()  # position t predicts token t + 1
    return dist[np.arange(len(response)), response], dist


@pytest.fixture(scope="module")
def enumerated(models):
    """Every response's exact per-token quantities under both models (independent of forgetbench)."""
    base, ckpt = models
    out = []
    for y in all_responses():
        logp, dist_p = plain_token_scores(base, y)
        logq, dist_q = plain_token_scores(ckpt, y)
        kl = (np.exp(dist_p) * (dist_p - dist_q)).sum(-1)  # exact KL(p_t ‖ q_t) per step
        out.append({"y": y, "logp": logp, "logq": logq, "kl": kl})
    return out


@pytest.fixture(scope="module")
def exact(enumerated):
    logp = np.array([e["logp"].sum() for e in enumerated])
    logq = np.array([e["logq"].sum() for e in enumerated])
    full = np.array([e["kl"].sum() for e in enumerated])
    p = np.exp(logp)
    return {"p": p, "seq_kl": float(np.sum(p * (logp - logq))), "e_full": float(np.sum(p * full)), "n": len(enumerated)}


def test_the_scorer_matches_the_enumeration_token_by_token(models, enumerated):
    """forgetbench's chunked, left-padded scorer against the plain forward passes, every response."""
    base, ckpt = models
    scores = hf_scorer.score(base, ckpt, [(PROMPT, e["y"]) for e in enumerated], PAD, batch_size=32)
    for s, e in zip(scores, enumerated, strict=True):
        assert s.kl is not None and len(s.kl) == len(e["y"])
        np.testing.assert_allclose(s.logp, e["logp"], atol=1e-5)
        np.testing.assert_allclose(s.logq, e["logq"], atol=1e-5)
        np.testing.assert_allclose(s.kl, e["kl"], atol=1e-5)


def test_enumeration_covers_the_whole_distribution(exact):
    assert exact["n"] == 1 + 5 + 5 * 5 * 6
    assert exact["p"].sum() == pytest.approx(1.0, abs=1e-5)


def test_expected_full_equals_exact_sequence_kl(exact):
    """Chain rule: E_y~p0[Σ_t KL_t] = KL(p0(y|x) ‖ p1(y|x)), both computed by enumeration."""
    assert exact["seq_kl"] > 0.05  # far from zero: the check is not vacuous
    assert exact["e_full"] == pytest.approx(exact["seq_kl"], rel=1e-4, abs=1e-6)


def test_identical_models_give_exactly_zero(models):
    base, _ = models
    scores = hf_scorer.score(base, base, [(PROMPT, y) for y in all_responses()[:40]], PAD, batch_size=8)
    assert all(float(s.kl.sum()) == 0.0 for s in scores)
    assert all(np.array_equal(s.logp, s.logq) for s in scores)


def test_sampled_estimates_contain_the_exact_value(models, exact):
    base, ckpt = models
    n = 3000
    responses = hf_scorer.sample(base, [PROMPT] * n, T, {EOS}, PAD, seed=7, batch_size=500)
    assert all(len(r) <= T and (len(r) == T or r[-1] == EOS) for r in responses)
    # sampled frequencies match the enumerated probabilities
    ys = all_responses()
    index = {tuple(y): i for i, y in enumerate(ys)}
    freq = np.bincount([index[tuple(r)] for r in responses], minlength=len(ys)) / n
    assert np.abs(freq - exact["p"]).max() < 0.04
    scores = hf_scorer.score(base, ckpt, [(PROMPT, r) for r in responses], PAD, batch_size=250)
    est = [sequence_estimates(s.kl, s.logp, s.logq) for s in scores]
    rng = np.random.default_rng(0)
    widths = {}
    for name in ("full", "k1", "k3"):
        low, high = mean_test(np.array([e[name] for e in est]), np.arange(n), rng).interval(0.95)
        assert low <= exact["seq_kl"] <= high, (name, low, high, exact["seq_kl"])
        widths[name] = high - low
    assert widths["full"] < widths["k1"] and widths["full"] < widths["k3"]  # the variance advantage


def test_sampling_ignores_generation_config_defaults(models):
    """Sampling draws from the raw distribution even when the model's config asks for top-k/top-p."""
    base, _ = models
    base.generation_config.top_k = 1
    base.generation_config.top_p = 0.1
    base.generation_config.temperature = 0.01
    responses = hf_scorer.sample(base, [PROMPT] * 400, 1, {EOS}, PAD, seed=3, batch_size=400)
    assert len({tuple(r) for r in responses}) > 2  # greedy/top-k=1 would give one response
