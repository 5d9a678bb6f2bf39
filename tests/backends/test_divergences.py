"""The per-token divergence kernel against a direct float64 computation on random logits: several
vocabulary sizes, slice boundaries inside and at the end of the rows, masked vocabulary entries (-inf),
and the registry a new divergence is added through."""

from __future__ import annotations

import math

import pytest
import torch

from forgetbench.backends import divergences
from forgetbench.backends.divergences import DIVERGENCES, per_token, register_divergence


def pair(shape: tuple[int, ...], seed: int, scale: float = 4.0, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of two nearby random distributions of shape [..., vocab]."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(shape, generator=g, dtype=torch.float64) * scale
    b = a + torch.randn(shape, generator=g, dtype=torch.float64) * 0.5
    return torch.log_softmax(a, -1).to(dtype), torch.log_softmax(b, -1).to(dtype)


def direct_kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Σ_v p (log p − log q) in float64, terms with p = 0 left out."""
    lp, lq = logp.double(), logq.double()
    p = lp.exp()
    return torch.where(p > 0, p * (lp - lq), torch.zeros_like(p)).sum(-1)


@pytest.mark.parametrize("vocab", [1, 2, 7, 1000, 49152])
@pytest.mark.parametrize("chunk", [1, 3000, divergences.CHUNK_ELEMENTS, 1 << 40])
def test_full_is_the_forward_kl_at_every_position(vocab, chunk, monkeypatch):
    monkeypatch.setattr(divergences, "CHUNK_ELEMENTS", chunk)  # slices of 1, 3000 // vocab, 256k // vocab rows, or all
    logp, logq = pair((3, 7, vocab), seed=vocab)
    before = (logp.clone(), logq.clone())
    got = per_token(logp, logq)
    assert list(got) == ["full"] and got["full"].shape == (3, 7) and got["full"].dtype == torch.float32
    torch.testing.assert_close(got["full"].double(), direct_kl(logp, logq), atol=1e-6, rtol=1e-5)
    assert (got["full"] >= -1e-6).all() and (vocab == 1 or float(got["full"].max()) > 1e-3)  # not vacuous
    assert torch.equal(logp, before[0]) and torch.equal(logq, before[1])  # inputs are read, never written


def test_a_position_does_not_depend_on_what_is_scored_with_it(monkeypatch):
    """Bit for bit the same value whether a row is scored alone, in any slice size, or in the whole block."""
    logp, logq = pair((5, 13, 1000), seed=1)
    whole = per_token(logp, logq)["full"]
    monkeypatch.setattr(divergences, "CHUNK_ELEMENTS", 3 * 1000 + 1)  # 3 rows per slice: 65 = 21·3 + 2
    assert torch.equal(per_token(logp, logq)["full"], whole)
    assert torch.equal(per_token(logp[2, 4:9], logq[2, 4:9])["full"], whole[2, 4:9])
    assert torch.equal(per_token(logp[:, 6], logq[:, 6])["full"], whole[:, 6])  # a strided view


def test_the_float32_formula_it_replaces_is_reproduced_exactly():
    """The transformers scorer's former in-place formula (diff · exp(log p), summed in float32) gives the
    same bits: `full` values already stored do not move."""
    logp, logq = pair((4, 21, 49152), seed=2)
    old = (logp - logq).mul_(logp.exp()).sum(-1)
    assert torch.equal(per_token(logp, logq)["full"], old)


def test_masked_vocabulary_entries():
    logp, logq = pair((4, 50), seed=3)
    logp[0, :10] = -torch.inf  # p gives 0 to 10 tokens: renormalised, they add nothing (0·log 0 = 0)
    logp[0] = torch.log_softmax(logp[0], -1)
    logp[1, :10] = -torch.inf  # ...and q gives them 0 as well: still nothing (not NaN)
    logq[1, :10] = -torch.inf
    logp[1], logq[1] = torch.log_softmax(logp[1], -1), torch.log_softmax(logq[1], -1)
    logq[2, 5] = -torch.inf  # q gives 0 to a token p does not: infinite
    got = per_token(logp, logq)["full"]
    assert torch.isfinite(got[[0, 1, 3]]).all() and got[2] == torch.inf
    torch.testing.assert_close(got[[0, 1, 3]].double(), direct_kl(logp, logq)[[0, 1, 3]], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got[0].double(), direct_kl(logp[0, 10:], logq[0, 10:]), atol=1e-6, rtol=1e-5)


def test_identical_distributions_give_exactly_zero_and_nan_propagates():
    logp, _ = pair((6, 300), seed=4)
    assert torch.equal(per_token(logp, logp.clone())["full"], torch.zeros(6))
    logq = logp.clone()
    logq[3, 7] = torch.nan
    got = per_token(logp, logq)["full"]
    assert torch.isnan(got[3]) and torch.isfinite(got[[0, 1, 2, 4, 5]]).all()  # never hidden as a number


def test_lower_precision_inputs_are_computed_in_float32():
    logp, logq = pair((2, 9, 777), seed=5, dtype=torch.bfloat16)
    got = per_token(logp, logq)["full"]
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), direct_kl(logp, logq), atol=1e-6, rtol=1e-5)


def test_errors_name_the_problem():
    logp, logq = pair((2, 10), seed=6)
    with pytest.raises(ValueError, match="shapes differ"):
        per_token(logp, logq[:, :9])
    with pytest.raises(ValueError, match=r"unknown divergence\(s\) hellinger; registered: full, kl_reverse_tok, tv, js"):
        per_token(logp, logq, ("full", "hellinger"))
    with pytest.raises(ValueError, match="'full' is already registered"):
        register_divergence("full")(lambda s: s.logp.sum(-1))


def test_a_registered_divergence_is_computed_beside_full(monkeypatch):
    """How the next divergence is added: one registered function of the two log-prob slices."""
    monkeypatch.setattr(divergences, "DIVERGENCES", dict(DIVERGENCES))  # the test's registration does not leak
    monkeypatch.setattr(divergences, "CHUNK_ELEMENTS", 64)

    @register_divergence("hellinger")
    def squared_hellinger(s):
        return (1 - (0.5 * (s.logp + s.logq)).exp().sum(-1)).clamp_(min=0)

    logp, logq = pair((3, 11, 40), seed=7)
    got = per_token(logp, logq, ("full", "hellinger"))
    assert list(got) == ["full", "hellinger"]
    want = 1 - (logp.double().exp() * logq.double().exp()).sqrt().sum(-1)
    torch.testing.assert_close(got["hellinger"].double(), want, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got["full"].double(), direct_kl(logp, logq), atol=1e-6, rtol=1e-5)


def enumerate_divergences(logp: torch.Tensor, logq: torch.Tensor) -> dict[str, list[float]]:
    """TV, JS and the reverse per-token KL of each row by plain Python loops over the vocabulary, in float64
    (independent of the kernel: no tensor ops, 0·log 0 = 0 by an explicit test)."""
    import math

    out: dict[str, list[float]] = {"tv": [], "js": [], "kl_reverse_tok": []}
    for lp_row, lq_row in zip(
        logp.double().reshape(-1, logp.shape[-1]).tolist(), logq.double().reshape(-1, logq.shape[-1]).tolist()
    ):
        p = [math.exp(v) for v in lp_row]
        q = [math.exp(v) for v in lq_row]
        tv = 0.5 * sum(abs(a - b) for a, b in zip(p, q))
        js = 0.0
        for a, b in zip(p, q):
            m = (a + b) / 2
            js += 0.5 * (a * math.log(a / m) if a > 0 else 0.0) + 0.5 * (b * math.log(b / m) if b > 0 else 0.0)
        rev = sum((b * (math.log(b) - math.log(a)) if a > 0 else math.inf) for a, b in zip(p, q) if b > 0)
        out["tv"].append(tv)
        out["js"].append(js)
        out["kl_reverse_tok"].append(rev)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_tv_js_and_reverse_token_kl_equal_an_enumeration(seed, monkeypatch):
    monkeypatch.setattr(divergences, "CHUNK_ELEMENTS", 97)  # several slices, a boundary inside a row
    logp, logq = pair((3, 4, 37), seed=seed, scale=2.0 + seed)
    logp[0, 0, :5] = -torch.inf  # p gives 0 to 5 tokens (q does not): TV, JS finite; reverse KL infinite
    logp[0, 0] = torch.log_softmax(logp[0, 0], -1)
    got = per_token(logp, logq, ("full", "tv", "js", "kl_reverse_tok"))
    want = enumerate_divergences(logp, logq)
    for name in ("tv", "js"):
        torch.testing.assert_close(
            got[name].double().reshape(-1), torch.tensor(want[name], dtype=torch.float64), atol=1e-6, rtol=1e-5
        )
    assert float(got["kl_reverse_tok"][0, 0]) == torch.inf
    torch.testing.assert_close(
        got["kl_reverse_tok"].double().reshape(-1)[1:],
        torch.tensor(want["kl_reverse_tok"][1:], dtype=torch.float64),
        atol=1e-6,
        rtol=1e-5,
    )
    assert ((got["tv"] >= 0) & (got["tv"] <= 1)).all() and float(got["tv"].max()) > 1e-3
    assert ((got["js"] >= 0) & (got["js"] <= math.log(2))).all()
    assert (got["js"] <= got["tv"] * math.log(2) + 1e-6).all()  # JS ≤ ln2 · TV (Lin, 1991)


def test_every_divergence_of_a_distribution_with_itself_is_exactly_zero():
    logp, _ = pair((5, 300), seed=9)
    got = per_token(logp, logp.clone(), tuple(DIVERGENCES))
    for name, value in got.items():
        assert torch.equal(value, torch.zeros(5)), name


def test_disjoint_supports_reach_the_bounds():
    logp = torch.log(torch.tensor([[0.5, 0.5, 0.0, 0.0]]))
    logq = torch.log(torch.tensor([[0.0, 0.0, 0.25, 0.75]]))
    got = per_token(logp, logq, ("tv", "js"))
    assert float(got["tv"][0]) == pytest.approx(1.0) and float(got["js"][0]) == pytest.approx(math.log(2), rel=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_extreme_logits_with_exact_zeros_stay_in_bounds_and_equal_the_enumeration(seed, monkeypatch):
    """Logits of scale 60: in float32 most probabilities underflow to exactly 0 while their log-probs stay
    finite. Rows of two near distributions (`pair`), of two independent ones (nearly disjoint: TV and JS at
    their upper bounds), masked tokens (-inf), fully disjoint supports and identical rows: TV in [0, 1], JS in
    [0, ln 2] at every position, and every divergence equal to the float64 loops of `enumerate_divergences`."""
    monkeypatch.setattr(divergences, "CHUNK_ELEMENTS", 97)  # several slices, a boundary inside a row
    near_p, near_q = pair((2, 5, 37), seed=10 + seed, scale=60.0)
    far_q, _ = pair((2, 5, 37), seed=20 + seed, scale=60.0)
    logp = torch.cat([near_p, near_p])
    logq = torch.cat([near_q, far_q])
    logp[0, 0, :18] = -torch.inf  # disjoint supports: TV = 1, JS = ln 2, both KLs infinite
    logq[0, 0, 18:] = -torch.inf
    logp[0, 0], logq[0, 0] = torch.log_softmax(logp[0, 0], -1), torch.log_softmax(logq[0, 0], -1)
    logp[1, 1, 3] = logq[1, 1, 3] = -torch.inf  # a token both models mask
    logp[1, 1], logq[1, 1] = torch.log_softmax(logp[1, 1], -1), torch.log_softmax(logq[1, 1], -1)
    logq[1, 2] = logp[1, 2]  # identical extreme rows: exactly 0
    underflow = (logp.exp() == 0) & torch.isfinite(logp)
    assert int(underflow.sum()) > 100  # exact zeros with finite log-probs: the case tested
    got = per_token(logp, logq, tuple(DIVERGENCES))
    want = enumerate_divergences(logp, logq)
    for name in ("tv", "js", "kl_reverse_tok"):
        torch.testing.assert_close(
            got[name].double().reshape(-1), torch.tensor(want[name], dtype=torch.float64), atol=1e-6, rtol=1e-5
        )
    torch.testing.assert_close(got["full"].double()[1:], direct_kl(logp, logq)[1:], atol=1e-6, rtol=1e-5)
    assert float(got["tv"][0, 0]) == 1.0 and float(got["js"][0, 0]) == pytest.approx(math.log(2), rel=1e-6)
    assert float(got["full"][0, 0]) == torch.inf and float(got["kl_reverse_tok"][0, 0]) == torch.inf
    for name in DIVERGENCES:
        assert float(got[name][1, 2]) == 0.0, name
    assert ((got["tv"] >= 0) & (got["tv"] <= 1)).all() and float(got["tv"][2:].max()) > 0.999  # far rows: at 1
    assert ((got["js"] >= 0) & (got["js"] <= math.log(2))).all() and float(got["js"][2:].max()) > 0.999 * math.log(2)
