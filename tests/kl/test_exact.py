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


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are a few thousand parameters: a second intra-op thread buys nothing, and on a busy machine
    its spin-waits cost 10–60× the CPU time (sampling 3,600 responses: 0.3 s with one thread, 20 s with two
    under a load of 8)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


# ---- every per-token divergence (issue 27) against the same kind of independent enumeration ----------------

NEW = ("kl_reverse_tok", "tv", "js", "act")
PROMPTS = [PROMPT, [0, 4], [2, 5, 3, 4, 0]]  # different lengths: the scorer left-pads them against each other


def reference_divergences(p64, q64, prompt: list[int], responses: list[list[int]]) -> list[dict[str, np.ndarray]]:
    """Per response token, in float64 with numpy: log p(y_t), log q(y_t), and KL(p_t‖q_t), KL(q_t‖p_t),
    ½Σ|p_t − q_t|, JS(p_t, q_t) of the next-token distributions and ‖h_q − h_p‖/‖h_p‖ of the final hidden
    states (`model.model(...)`, after the final norm: what the head reads) at the position predicting y_t.
    `p64`, `q64` are float64 copies of the models; responses of one length share one unpadded forward."""
    import torch

    out = []
    for length in sorted({len(y) for y in responses}):
        ys = [y for y in responses if len(y) == length]
        ids = torch.tensor([prompt + y for y in ys])
        rows = slice(len(prompt) - 1, len(prompt) - 1 + length)  # position t predicts token t + 1
        with torch.no_grad():
            lp = torch.log_softmax(p64(input_ids=ids).logits[:, rows], -1).numpy()
            lq = torch.log_softmax(q64(input_ids=ids).logits[:, rows], -1).numpy()
            hp = p64.model(input_ids=ids).last_hidden_state[:, rows].numpy()
            hq = q64.model(input_ids=ids).last_hidden_state[:, rows].numpy()
        p, q = np.exp(lp), np.exp(lq)
        m = (p + q) / 2
        for i, y in enumerate(ys):
            at = np.arange(length)
            out.append(
                {
                    "y": y,
                    "logp": lp[i, at, y],
                    "logq": lq[i, at, y],
                    "full": (p[i] * (lp[i] - lq[i])).sum(-1),
                    "kl_reverse_tok": (q[i] * (lq[i] - lp[i])).sum(-1),
                    "tv": 0.5 * np.abs(p[i] - q[i]).sum(-1),
                    "js": 0.5 * (p[i] * np.log(p[i] / m[i])).sum(-1) + 0.5 * (q[i] * np.log(q[i] / m[i])).sum(-1),
                    "act": np.linalg.norm(hq[i] - hp[i], axis=-1) / np.linalg.norm(hp[i], axis=-1),
                }
            )
    return out


@pytest.fixture(scope="module")
def enumerated_every(models):
    """Per prompt of `PROMPTS`: every response's reference per-token values (`reference_divergences`)."""
    import copy

    p64, q64 = (copy.deepcopy(m).double() for m in models)
    return [reference_divergences(p64, q64, x, all_responses()) for x in PROMPTS]


@pytest.fixture(scope="module")
def exact_every(enumerated_every):
    """Per prompt: each divergence's exact sequence-level expectation E_y~p0[Σ_t d_t] over every response."""
    out = []
    for refs in enumerated_every:
        prob = np.exp([r["logp"].sum() for r in refs])
        assert prob.sum() == pytest.approx(1.0, abs=1e-9)
        out.append({n: float(np.sum(prob * [r[n].sum() for r in refs])) for n in ("full", *NEW)})
    return out


def test_every_divergence_matches_the_enumeration_token_by_token(models, enumerated_every):
    from forgetbench.backends.divergences import every_name

    assert set(every_name()) == {"full", *NEW}  # a new divergence must be added here too
    base, ckpt = models
    seqs = [(x, r["y"]) for x, refs in zip(PROMPTS, enumerated_every, strict=True) for r in refs]
    refs = [r for refs in enumerated_every for r in refs]
    scores = hf_scorer.score(base, ckpt, seqs, PAD, batch_size=32, divergences=every_name())
    for s, r in zip(scores, refs, strict=True):
        assert set(s.divergences) == set(NEW) and s.kl is not None
        np.testing.assert_allclose(s.logp, r["logp"], atol=1e-5)
        np.testing.assert_allclose(s.logq, r["logq"], atol=1e-5)
        np.testing.assert_allclose(s.kl, r["full"], atol=1e-5)
        for name in NEW:
            assert s.divergences[name].dtype == np.float32 and len(s.divergences[name]) == len(r["y"])
            np.testing.assert_allclose(s.divergences[name], r[name], atol=1e-5, rtol=1e-5, err_msg=name)
        assert ((s.divergences["tv"] >= 0) & (s.divergences["tv"] <= 1)).all()
        assert ((s.divergences["js"] >= 0) & (s.divergences["js"] <= np.float32(np.log(2)))).all()
    tokens = {n: np.concatenate([r[n] for r in refs]) for n in NEW}
    assert all(tokens[n].max() > 0.05 for n in NEW)  # far from zero: the comparisons are not vacuous


@pytest.mark.parametrize("log_probs", [False, True], ids=["hidden", "logprobs"])
def test_a_cached_base_side_gives_the_same_numbers_bit_for_bit(models, enumerated_every, log_probs):
    """`score` with p's side from `base_side` (the training callback's cache) against `score` computing it: every
    per-token value identical, on padded prompts of different lengths, in batches of 7 (a short last batch)."""
    from forgetbench.backends.divergences import every_name

    base, ckpt = models
    seqs = [(x, r["y"]) for x, refs in zip(PROMPTS, enumerated_every, strict=True) for r in refs][:40]
    side = hf_scorer.base_side(base, seqs, PAD, 7, log_probs=log_probs, logits_budget=64)
    assert all((s.logp is not None) == log_probs for s in side)
    plain = hf_scorer.score(base, ckpt, seqs, PAD, batch_size=7, logits_budget=64, divergences=every_name())
    cached = hf_scorer.score(base, ckpt, seqs, PAD, batch_size=7, logits_budget=64, divergences=every_name(), p_side=side)
    for a, b in zip(plain, cached, strict=True):
        assert np.array_equal(a.kl, b.kl) and np.array_equal(a.logp, b.logp) and np.array_equal(a.logq, b.logq)
        assert all(np.array_equal(a.divergences[n], b.divergences[n]) for n in a.divergences)


def test_every_divergence_of_a_model_with_itself_is_exactly_zero(models):
    from forgetbench.backends.divergences import every_name

    base, _ = models
    seqs = [(x, y) for x in PROMPTS for y in all_responses()[::4]]
    scores = hf_scorer.score(base, base, seqs, PAD, batch_size=8, divergences=every_name())
    for s in scores:
        assert float(np.abs(s.kl).max()) == 0.0
        for name in NEW:
            assert float(np.abs(s.divergences[name]).max()) == 0.0, name


def test_every_divergence_sequence_mean_lies_in_its_ci_in_95_percent_of_seeds(models, exact_every):
    """Sampling from the base with forgetbench's sampler, scoring with its scorer, and the interval kl/run.py
    reports (`mean_test` over prompts, one sample per prompt): the exact expectation from the enumeration lies
    inside the 95% interval in ≥ 95% of 40 seeds for every divergence."""
    from forgetbench.backends.divergences import every_name

    base, ckpt = models
    seeds, repeats = range(40), 30  # each seed: the 3 prompts 30 times each, 90 prompts
    prompts = PROMPTS * repeats
    truth = {n: float(np.mean([e[n] for e in exact_every])) for n in ("full", *NEW)}  # every prompt equally often
    responses = [hf_scorer.sample(base, prompts, T, {EOS}, PAD, seed=1000 + s, batch_size=len(prompts)) for s in seeds]
    seqs = [(x, y) for rs in responses for x, y in zip(prompts, rs, strict=True)]
    scores = hf_scorer.score(base, ckpt, seqs, PAD, batch_size=256, divergences=every_name())
    covered = dict.fromkeys(truth, 0)
    for k, s in enumerate(seeds):
        part = scores[k * len(prompts) : (k + 1) * len(prompts)]
        for name in truth:
            v = np.array([float((t.kl if name == "full" else t.divergences[name]).sum()) for t in part])
            low, high = mean_test(v, np.arange(len(v)), np.random.default_rng(s)).interval(0.95)
            covered[name] += low <= truth[name] <= high
    coverage = {n: c / len(seeds) for n, c in covered.items()}
    print(f"coverage of the exact expectation by the 95% CI over {len(seeds)} seeds: {coverage}; exact: {truth}")
    assert all(truth[n] > 0.02 for n in truth)  # not vacuous
    assert all(c >= 0.95 for c in coverage.values()), coverage


def test_tv_and_js_stay_in_their_bounds_on_extreme_logits_with_exact_zeros(models):
    """Output heads scaled 60×: logits of several hundred, so in float32 most next-token probabilities are
    exactly 0 and many tokens have all of one model's mass. Per token TV ∈ [0, 1] and JS ∈ [0, ln 2], both
    reaching their upper bound, and nothing is NaN."""
    import copy

    import torch

    from forgetbench.backends.divergences import every_name

    base, ckpt = (copy.deepcopy(m) for m in models)
    with torch.no_grad():
        base.lm_head.weight.mul_(60)
        ckpt.lm_head.weight.mul_(60)
        probs = torch.softmax(base(input_ids=torch.tensor([[*PROMPT, 2, 3]])).logits.float(), -1)
    assert int((probs == 0).sum()) > probs.numel() // 2  # exact zeros: the case tested
    scores = hf_scorer.score(base, ckpt, [(PROMPT, y) for y in all_responses()], PAD, batch_size=32, divergences=every_name())
    tv = np.concatenate([s.divergences["tv"] for s in scores])
    js = np.concatenate([s.divergences["js"] for s in scores])
    assert tv.min() >= 0 and tv.max() <= 1 and tv.max() > 0.999
    assert js.min() >= 0 and js.max() <= np.float32(np.log(2)) and js.max() > 0.999 * np.log(2)
    for s in scores:
        assert not any(np.isnan(v).any() for v in (s.kl, *s.divergences.values()))
