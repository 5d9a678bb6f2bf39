"""The KL rule: when the mean per-prompt KL may be shown within (or beyond) a limit, and what it can
detect, under one data model (validated in benchmarks/kl_rule_calibration.py):

    per-prompt KL values (a prompt's samples averaged first) are independent draws of a hurdle
    distribution: a share of exact zeros (prompts where the models agree), and a positive part that is
    lognormal with a log-scale spread up to 2, or lighter-tailed than one (exponential); or such a
    distribution with up to 10% of its prompts 20–50× larger (a fine-tune that changes a few prompts a lot).

No test of a mean holds its level for every distribution at a fixed size: a 5% contamination at 50× is
absent from 0.95¹⁶ = 44% of 16-prompt samples, and then nothing in the sample shows it. So a pass needs
`MIN_PASS_PROMPTS` prompts (the smallest size at which the rule held α over the model), at least
`MIN_POSITIVE` of them above 0, every value ≥ 0, and log positive values that are not right-skewed (a
one-sided D'Agostino test at `SKEW_ALPHA`: a tail heavier than the lognormal's, as a contamination makes,
is not sized by the lognormal part, so no pass is claimed). The fail side held α from `MIN_FAIL_PROMPTS`
prompts in every regime (a heavy tail makes the sample mean low, not high).

Sizing: the minimum detectable KL (`mde`) is the smallest true mean the fail test rejects with 80% power,
by a small simulation of the fitted model (the run's zero share and log spread), seeded; with a limit
of 0 it is NaN (on values ≥ 0 the fail test's power against 0 does not depend on the mean's size). The
prompts needed (`needed`) are the smallest size at which the whole rule (both parts of the union, the
pass minimum and the tail check) decides the fitted model with 80% power, by the same kind of seeded
simulation (`prompts_needed`), at the mean both parts bound: the nearer to the limit of the sample mean
and the hurdle part's mean. Where that mean is on the other side of the limit, or the model decides at
the run's own size yet the run did not, more prompts of the same kind are not expected to help: None,
and the note says why. Values near 0 beside larger ones (bf16 noise where models agree) are kept as
measured, not treated as zeros: they widen the log spread, and the note names that case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import norm, skewtest
from scipy.stats import t as student_t

from forgetbench.stats.bootstrap import MeanTest
from forgetbench.stats.sizing import POWER

MIN_PASS_PROMPTS = 128
"""Prompts below which the KL rule never passes: at 96 a 5% contamination at 50× (exponential
positive part) was passed in 7.1% of runs at the limit; at 128, ≤ 5% in every regime of the model."""
MIN_FAIL_PROMPTS = 3
"""Prompts below which the KL rule never fails (at two, the bootstrap has no tail to test with)."""
MIN_POSITIVE = 8
"""Prompts with KL above 0 needed to check the positive part's tail (`skewtest` needs 8)."""
SKEW_ALPHA = 0.05
"""Level of the one-sided test for right skew of the log positive values; it withholds a pass in about
5% of runs from a true lognormal (the power it costs) and in most contaminated ones."""
SIZING_RUNS = 2000
"""Simulated runs behind the MDE (Monte Carlo error of its power ±0.018, 2 s.e.)."""
MAX_PROMPTS = 10**7
"""Prompts needed beyond this are reported as this."""
NEEDED_RUNS = 1000
"""Simulated runs per size behind the prompts needed (Monte Carlo s.e. of the power at a size ±0.013)."""
MAX_SIMULATED = 2**15
"""Largest size the prompts-needed simulation tries; beyond it the hurdle part's approximation is stated."""
CHUNK = 2_000_000
"""Simulated values held at once by the MDE's simulation."""


@dataclass(frozen=True)
class KlDecision:
    """The KL rule's p-values after its minimum sizes, and what sizes it."""

    p_within: float
    """p of H0: mean ≥ limit; 1 where a pass is not claimed at this size or shape (`note`)."""
    p_beyond: float
    """p of H0: mean ≤ limit; 1 below `MIN_FAIL_PROMPTS` or with no spread."""
    mde: float
    """Nats per sequence: the smallest mean KL the fail test rejects with 80% power at this many prompts,
    under the fitted model; NaN where no model is fitted (fewer than 3 positive values, values < 0) or the
    limit is 0 (the power against 0 does not depend on the mean's size; `note` says so)."""
    needed: int | None
    """Prompts at which the rule decides the fitted model, its mean this run's, with 80% power (simulated;
    never below the side's minimum); None where more prompts of the same kind are not expected to decide
    it (no spread, a shape outside the model, a size the model says already suffices): `note` says why."""
    note: str
    """Why a pass (or fail) is withheld at this size or shape; "" when the tests decide alone."""


def _model(test: MeanTest) -> tuple[float, float, int] | None:
    """(zero share, log-scale spread of the positive values, positive values) of the hurdle model."""
    x = test.clusters
    if test.n < 2 or (x < 0).any():
        return None
    pos = x[x > 0]
    if len(pos) < 3:
        return None
    s = float(np.log(pos).std(ddof=1))
    return 1 - len(pos) / len(x), s, len(pos)


def _log_se(zeros: float, s: float, n: float) -> tuple[float, float]:
    """(standard error of the hurdle-lognormal log-mean at `n` prompts, its degrees of freedom)."""
    k = max(n * (1 - zeros), 2.0)
    return math.sqrt(s * s / k + s**4 / (2 * (k - 1)) + zeros / k), k - 1


def fail_power_ratio(zeros: float, s: float, n: int, alpha: float, seed: int) -> float:
    """True mean / limit at which the fail test rejects with 80% power: the 20th percentile of the union's
    one-sided lower bound over `SIZING_RUNS` runs of the fitted model (mean 1) at `n` prompts. The
    bootstrap-t part uses the t statistic's own simulated quantile (what the bootstrap estimates)."""
    rng = np.random.default_rng(seed)
    m, sd, low_log = np.empty(SIZING_RUNS), np.empty(SIZING_RUNS), np.empty(SIZING_RUNS)
    step = max(1, CHUNK // n)
    for start in range(0, SIZING_RUNS, step):
        rows = slice(start, min(SIZING_RUNS, start + step))
        shape = (rows.stop - rows.start, n)
        positive = rng.random(shape, dtype=np.float32) >= zeros
        y = rng.standard_normal(shape, dtype=np.float32) * np.float32(s)
        y *= positive  # log values (0 where the prompt's KL is 0, masked below)
        x = np.exp(y) * positive
        k = positive.sum(axis=1)
        s1, s2x = x.sum(axis=1, dtype=np.float64), (x * x).sum(axis=1, dtype=np.float64)
        y1, y2 = y.sum(axis=1, dtype=np.float64), (y * y).sum(axis=1, dtype=np.float64)
        scale = math.exp(-s * s / 2) / (1 - zeros)  # the model's mean is 1
        m[rows] = scale * s1 / n
        sd[rows] = scale * np.sqrt(np.maximum(s2x - s1 * s1 / n, 0.0) / (n - 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            ybar = y1 / k
            var = np.maximum(y2 - k * ybar * ybar, 0.0) / (k - 1)
            se = np.sqrt(var / k + var * var / (2 * (k - 1)) + (n - k) / (n * k))
            centre = np.log(k / n) + ybar + math.log(scale) + var / 2
            q_t = student_t.ppf(1 - alpha, np.maximum(k - 1, 1))
            low_log[rows] = np.where(k >= 3, np.exp(centre - q_t * se), -np.inf)
    ok = sd > 0
    t = (m[ok] - 1.0) / (sd[ok] / math.sqrt(n))
    low_t = np.where(ok, m - float(np.quantile(t, 1 - alpha)) * sd / math.sqrt(n), -np.inf)
    low = np.minimum(low_t, low_log)
    q = float(np.quantile(np.nan_to_num(low, nan=-np.inf), 1 - POWER))
    return 1 / q if q > 0 else math.inf


def bootstrap_floor(alpha: float) -> int:
    """The fewest prompts at which the bootstrap can reject at `alpha`: of n prompts, n of the nⁿ
    resamples repeat one prompt (no spread, counted as ±∞), so p ≥ n^(1−n)."""
    n = MIN_FAIL_PROMPTS
    while n ** (1 - n) > alpha / 2:
        n += 1
    return n


def _hurdle_needed(zeros: float, s: float, ratio: float, alpha: float, floor: int) -> int | None:
    """Prompts at which the hurdle-lognormal part alone decides a mean `ratio` × the limit with 80% power
    (normal approximation): where the simulation starts, and the answer beyond `MAX_SIMULATED`."""
    if ratio <= 0 or ratio == 1 or not math.isfinite(ratio):
        return None
    gap = abs(math.log(ratio))
    z = norm.ppf(1 - alpha) + norm.ppf(POWER)
    n = max(floor, math.ceil((s * s + s**4 / 2 + zeros) / (1 - zeros) * (z / gap) ** 2))
    for _ in range(50):  # the t quantile's degrees of freedom grow with n: iterate to a fixed point
        se, df = _log_se(zeros, s, n)
        if (student_t.ppf(1 - alpha, df) + norm.ppf(POWER)) * se <= gap or n >= MAX_PROMPTS:
            break
        n = math.ceil(n * 1.05) + 1
    return min(n, MAX_PROMPTS)


def _skew_z(y1: np.ndarray, y2: np.ndarray, y3: np.ndarray, k: np.ndarray) -> np.ndarray:
    """D'Agostino's skewness z (as `scipy.stats.skewtest`) of each run's log positive values, from their
    sums of powers `y1`, `y2`, `y3` and counts `k`; NaN where k < `MIN_POSITIVE`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = y1 / k
        m2 = np.maximum(y2 / k - mean * mean, 0.0)
        m3 = y3 / k - 3 * mean * y2 / k + 2 * mean**3
        y = np.where(m2 > 0, m3 / m2**1.5, 0.0) * np.sqrt((k + 1) * (k + 3) / (6.0 * (k - 2)))
        beta2 = 3.0 * (k * k + 27 * k - 70) * (k + 1) * (k + 3) / ((k - 2) * (k + 5) * (k + 7) * (k + 9))
        w2 = -1 + np.sqrt(2 * (beta2 - 1))
        a = np.sqrt(2 / (w2 - 1))
        z = np.log(y / a + np.sqrt((y / a) ** 2 + 1)) / np.sqrt(0.5 * np.log(w2))
    return np.where(k >= MIN_POSITIVE, z, np.nan)


@lru_cache(maxsize=512)
def _bounds(zeros: float, s: float, n: int, alpha: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per run of `NEEDED_RUNS` of the fitted model (mean 1) at `n` prompts: the union test's one-sided
    lower and upper bounds at `alpha`, the bootstrap-t part's lower bound alone, and whether the shape
    checks allow a pass (`MIN_POSITIVE` positive values, log values not right-skewed at `SKEW_ALPHA`).
    The bootstrap-t part uses the t statistic's simulated quantiles; the hurdle part is `MeanTest`'s."""
    rng = np.random.default_rng(seed)
    m, sd, k = np.empty(NEEDED_RUNS), np.empty(NEEDED_RUNS), np.empty(NEEDED_RUNS)
    y1, y2, y3 = np.empty(NEEDED_RUNS), np.empty(NEEDED_RUNS), np.empty(NEEDED_RUNS)
    scale = math.exp(-s * s / 2) / (1 - zeros)  # the model's mean is 1
    step = max(1, CHUNK // n)
    for start in range(0, NEEDED_RUNS, step):
        rows = slice(start, min(NEEDED_RUNS, start + step))
        shape = (rows.stop - rows.start, n)
        positive = rng.random(shape, dtype=np.float32) >= zeros
        y = rng.standard_normal(shape, dtype=np.float32) * np.float32(s) * positive
        x = np.exp(y) * positive
        k[rows] = positive.sum(axis=1)
        s1, s2x = x.sum(axis=1, dtype=np.float64), (x * x).sum(axis=1, dtype=np.float64)
        m[rows] = scale * s1 / n
        sd[rows] = scale * np.sqrt(np.maximum(s2x - s1 * s1 / n, 0.0) / (n - 1))
        y1[rows], y2[rows] = y.sum(axis=1, dtype=np.float64), (y * y).sum(axis=1, dtype=np.float64)
        y3[rows] = (y * y * y).sum(axis=1, dtype=np.float64)
    root = math.sqrt(n)
    ok = sd > 0
    t = (m[ok] - 1.0) / (sd[ok] / root)
    t_lo, t_hi = np.quantile(t, [alpha, 1 - alpha]) if ok.any() else (-np.inf, np.inf)
    low_t = np.where(ok, m - t_hi * sd / root, -np.inf)
    high_t = np.where(ok, m - t_lo * sd / root, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        ybar = y1 / k
        var = np.maximum(y2 - k * ybar * ybar, 0.0) / (k - 1)
        se = np.sqrt(var / k + var * var / (2 * (k - 1)) + (n - k) / (n * k))
        centre = np.log(k / n) + ybar + math.log(scale) + var / 2
        q = student_t.ppf(1 - alpha, np.maximum(k - 1, 1)) * se
        joined = (k >= 3) & (var > 0)
        low = np.where(joined, np.minimum(low_t, np.exp(centre - q)), low_t)
        high = np.where(joined, np.maximum(high_t, np.exp(centre + q)), high_t)
        shape_ok = (k >= MIN_POSITIVE) & ~(norm.sf(_skew_z(y1, y2, y3, k)) <= SKEW_ALPHA)
    return np.nan_to_num(low, nan=-np.inf), np.nan_to_num(high, nan=np.inf), low_t, shape_ok


def decide_power(zeros: float, s: float, ratio: float, n: int, alpha: float, seed: int) -> float:
    """Share of simulated runs of the fitted model, its mean `ratio` × the limit, that the rule decides at
    `n` prompts: passes (ratio < 1: upper bound below the limit, shape checks passed, n ≥
    `MIN_PASS_PROMPTS`) or fails (ratio > 1: lower bound above the limit; ratio ∞ for a limit of 0, where
    only the bootstrap-t part tests)."""
    low, high, low_t, shape_ok = _bounds(zeros, s, n, alpha, seed)
    if ratio < 1:
        return float(((high < 1 / ratio) & shape_ok).mean()) if n >= MIN_PASS_PROMPTS else 0.0
    return float((low_t > 0).mean() if math.isinf(ratio) else (low > 1 / ratio).mean())


def prompts_needed(zeros: float, s: float, ratio: float, alpha: float, floor: int, seed: int) -> int | None:
    """Prompts at which the rule decides a mean `ratio` × the limit with 80% power under the fitted model,
    by simulation (`decide_power`, the same seeded draws at every size): from the hurdle part's normal
    approximation, doubled until the power is reached, then bisected to 5%. Beyond `MAX_SIMULATED` the
    approximation is returned (it ignores the ~5% of passes the skew check withholds). None at ratio 1."""
    if ratio <= 0 or ratio == 1 or math.isnan(ratio):
        return None
    guess = floor if math.isinf(ratio) else _hurdle_needed(zeros, s, ratio, alpha, floor)
    if guess is None or guess > MAX_SIMULATED:
        return guess
    lo, hi = floor - 1, guess
    while decide_power(zeros, s, ratio, hi, alpha, seed) < POWER:
        if hi >= MAX_SIMULATED:
            return _hurdle_needed(zeros, s, ratio, alpha, 2 * MAX_SIMULATED)
        lo, hi = hi, min(2 * hi, MAX_SIMULATED)
    while hi - lo > max(1, hi // 20):
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if decide_power(zeros, s, ratio, mid, alpha, seed) >= POWER else (mid, hi)
    return hi


def _pass_withheld(test: MeanTest, quantity: str = "KL") -> str:
    """Why a pass is not claimed at this size or shape ("" when it may be); `quantity` names the values."""
    if test.n >= 2 and test.degenerate:
        return f"every prompt has the same {quantity}: no spread to bound the mean with, so nothing is shown"
    if test.n < MIN_PASS_PROMPTS:
        return f"a pass needs at least {MIN_PASS_PROMPTS} prompts, the fewest at which the KL rule holds its level"
    if (test.clusters < 0).any():
        return "some per-prompt values are below 0 (a sampled estimator): outside the rule's data model"
    if test.positive < MIN_POSITIVE:
        return f"fewer than {MIN_POSITIVE} prompts have {quantity} above 0: the positive part's tail cannot be checked"
    p = float(skewtest(np.log(test.clusters[test.clusters > 0]), alternative="greater").pvalue)
    if p <= SKEW_ALPHA:
        return (f"the log per-prompt {quantity} is right-skewed (p {p:.2g}): a heavier tail than the lognormal data "
                "model (a few prompts changed a lot), whose mean these prompts cannot bound")  # fmt: skip
    return ""


def kl_rule(
    test: MeanTest, limit: float, alpha: float, fail_alpha: float, seed: int, quantity: str = "KL", sizing: bool = True
) -> KlDecision:
    """The KL rule on `test` against `limit` (nats per sequence): pass side at `alpha`, the MDE and the
    fail side's prompts at `fail_alpha`; `seed` seeds the sizing simulations. The same rule decides any
    per-prompt mean of values ≥ 0 (a per-token divergence's); `quantity` names them in the notes. Without
    `sizing` the MDE and the prompts needed are not simulated (NaN, None): the decision (p-values) is the
    same, at a fraction of the cost, for simulations that read only the outcome (`gate.power`)."""
    withheld = _pass_withheld(test, quantity)
    p_within = 1.0 if withheld else test.p_within(limit)
    fail_ok = test.n >= MIN_FAIL_PROMPTS and not test.degenerate
    p_beyond = test.p_beyond(limit) if fail_ok else 1.0
    model = _model(test)
    mde, needed = math.nan, None
    above = test.estimate > limit
    # the note shown when undecided: the side the estimate is on (a pass-side note beside a fail-side size
    # contradicted itself); "" when the tests decide alone
    note = withheld if not above else "" if fail_ok else f"a decision needs at least {MIN_FAIL_PROMPTS} prompts"
    if test.n >= 2 and test.degenerate:
        note = withheld
    elif not sizing:
        pass
    elif model is not None and model[1] > 0:
        zeros, s, _ = model
        if limit > 0:
            mde = limit * fail_power_ratio(zeros, s, test.n, fail_alpha, seed)
        # the truth sized: what both parts bound, so the side's nearer of the sample mean and the hurdle
        # part's mean exp(log(n₊/n) + ȳ + s²/2) (far apart when near-zero values widen the log spread)
        hurdle = math.exp(test.hurdle_centre) if test.hurdle else test.estimate
        mean = min(test.estimate, hurdle) if above else max(test.estimate, hurdle)
        ratio = mean / limit if limit > 0 else math.inf
        if (ratio <= 1) if above else (ratio >= 1):
            note = (f"the hurdle-lognormal part puts the mean at {hurdle:.3g} (its log spread {s:.2g}), on the "
                    f"other side of the limit from the sample mean {test.estimate:.3g}: the shape is outside "
                    "the data model (e.g. values near 0 beside larger ones), and more prompts of the same kind "
                    "are not expected to decide it")  # fmt: skip
        elif above:
            needed = prompts_needed(zeros, s, ratio, fail_alpha, bootstrap_floor(fail_alpha), seed)
        elif test.n < MIN_PASS_PROMPTS or not withheld:
            needed = prompts_needed(zeros, s, ratio, alpha, MIN_PASS_PROMPTS, seed)
        if needed is not None and needed <= test.n:  # the model decides it here: more of the same won't
            needed = None
            note = (f"the fitted model (zero share {zeros:.0%}, log spread {s:.2g}) decides a mean like this one "
                    f"at {test.n} prompts with 80% power, yet these prompts did not"
                    + (f" ({withheld})" if withheld and not above else
                       ": their shape is outside the data model (e.g. near-zero values widening the log spread, "
                       "which puts the hurdle part's bound far from the sample mean)")
                    + ", so more prompts of the same kind are not expected to decide it")  # fmt: skip
        elif needed is None and not note and ratio != 1:
            note = "a mean this close to the limit is not decided with 80% power at any size the model sizes"
    elif test.n < MIN_PASS_PROMPTS:  # too few prompts, or too little spread, to fit the model
        needed = MIN_PASS_PROMPTS
    if limit <= 0:
        zero = ("with a limit of 0 no MDE is stated: on values ≥ 0 the fail test's power does not depend on the "
                "size of the mean, only on its shape")  # fmt: skip
        note = f"{zero}; {note}" if note else zero
    return KlDecision(p_within, p_beyond, mde, needed, note)
