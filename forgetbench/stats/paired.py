"""Paired statistics for retention: the same items scored under base and checkpoint.

A task's *drop* is D = mean(base − ckpt), as a fraction of the metric (callers report points,
D × 100); positive means forgotten. Which method serves depends on the metric, and was chosen by
simulation at the sizes users run (20–60 items, few or no flips; `benchmarks/gate_calibration.py`,
tests/stats/test_coverage.py):

- 0/1 metrics (`BinaryDrop`): Tango's score test and the interval that inverts it (Tango 1998,
  Stat Med 17:891), with a continuity correction of half an item on each one-sided test. The nuisance
  (the share of discordant items) is estimated under the null, so the test keeps its level at 20 items
  with zero or one-way flips, where a bootstrap of the items cannot (every resample of a task with no
  flip is 0); the correction keeps a drop exactly at a nonzero limit from being failed more than α of
  the time (uncorrected: 8.8 % at 60 items with 2 % background flips, α 0.05). Significance of a drop
  (D ≠ 0) is the exact conditional McNemar test.
- graded metrics (`GradedDrop`): the paired t interval and test on the per-item differences; fewer than
  `GradedDrop.MIN_ITEMS` differences, or differences with no spread, decide nothing (p = 1).
- the aggregate F = mean over tasks of D_t (`forgetting`): a stratified score statistic. To test F = m,
  every task's drop is moved by the same amount to meet m, and each 0/1 task's variance is Tango's
  restricted one at its moved drop (a graded task's is its t variance), with a continuity correction of
  half an item per 0/1 task. A Wald interval (variance at the observed drops) put its upper end below
  the truth 6–10 % of the time in small cells (every flip a loss); this one stays at ≤ 5 % + MC error.

All tests are one-sided against a margin m: `p_within(m)` tests H0: D ≥ m (small: shown within the
limit), `p_beyond(m)` tests H0: D ≤ m (small: shown beyond it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.stats import binom, norm
from scipy.stats import t as student_t

from forgetbench.stats.bootstrap import Interval


def mcnemar_exact(forgotten: int, gained: int) -> float:
    """Two-sided exact (conditional binomial) McNemar p-value from the discordant pair counts."""
    n = forgotten + gained
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(forgotten, gained), n, 0.5)))


def min_one_way_flips(alpha: float = 0.05) -> int:
    """The fewest discordant items that can make the exact McNemar test significant at `alpha` (all of
    them in one direction): 6 at α = 0.05, since 2 · 0.5⁶ = 0.031 and 2 · 0.5⁵ = 0.0625."""
    k = 1
    while mcnemar_exact(k, 0) > alpha:
        k += 1
    return k


CORRECTION = 0.5
"""Continuity correction of the 0/1 score tests, in items: half the lattice step of b − c."""


def tango_parts(lost, won, n, drop):
    """Tango's statistic for H0: D = `drop` as (numerator b − c − n·D, its variance under H0), the share
    of discordant items estimated under H0 (restricted maximum likelihood, closed form). Vectorised:
    `lost`, `won`, `n` and `drop` may be numpy arrays (the exact power enumerates every outcome)."""
    b, c, d = np.asarray(lost, dtype=np.float64), np.asarray(won, dtype=np.float64), np.asarray(drop, dtype=np.float64)
    a_, b_, c_ = 2.0 * n, -b - c + (2.0 * n - b + c) * d, -c * d * (1.0 - d)
    q = (-b_ + np.sqrt(np.maximum(b_ * b_ - 4.0 * a_ * c_, 0.0))) / (2.0 * a_)  # P(0 → 1) under H0
    return b - c - n * d, n * (2.0 * q + d * (1.0 - d))


def _ratio(numerator, variance):
    """numerator / √variance, ±∞ (or 0 for a zero numerator) where the variance is 0."""
    num, var = np.asarray(numerator, dtype=np.float64), np.asarray(variance, dtype=np.float64)
    safe = np.where(var > 0.0, var, 1.0)
    return np.where(var > 0.0, num / np.sqrt(safe), np.where(num == 0.0, 0.0, np.copysign(np.inf, num)))


def tango_p_beyond(lost, won, n, margin):
    """One-sided p of H0: D ≤ `margin` (small: shown beyond it), continuity-corrected; vectorised."""
    num, var = tango_parts(lost, won, n, margin)
    return norm.sf(_ratio(num - CORRECTION, var))


def tango_p_within(lost, won, n, margin):
    """One-sided p of H0: D ≥ `margin` (small: shown within it), continuity-corrected; vectorised."""
    num, var = tango_parts(lost, won, n, margin)
    return norm.cdf(_ratio(num + CORRECTION, var))


@dataclass(frozen=True)
class BinaryDrop:
    """A 0/1 task's paired outcome: items lost (1 → 0) and won (0 → 1) out of `n`."""

    lost: int
    won: int
    n: int
    method = "Tango score, continuity-corrected"

    @property
    def estimate(self) -> float:
        return (self.lost - self.won) / self.n

    def z(self, drop: float) -> float:
        """Tango's score statistic for H0: D = `drop` (uncorrected)."""
        num, var = tango_parts(self.lost, self.won, self.n, drop)
        return float(_ratio(num, var))

    def z_beyond(self, drop: float) -> float:
        """The statistic of the test of H0: D ≤ `drop`, half an item toward H0."""
        num, var = tango_parts(self.lost, self.won, self.n, drop)
        return float(_ratio(num - CORRECTION, var))

    def z_within(self, drop: float) -> float:
        """The statistic of the test of H0: D ≥ `drop`, half an item toward H0."""
        num, var = tango_parts(self.lost, self.won, self.n, drop)
        return float(_ratio(num + CORRECTION, var))

    def interval(self, level: float) -> tuple[float, float]:
        """The drops not rejected by either one-sided test at (1 − level) / 2."""
        crit = float(norm.ppf(0.5 + level / 2))
        est, eps = self.estimate, 1e-12
        low = -1.0 if self.z_beyond(-1.0 + eps) <= crit else brentq(lambda d: self.z_beyond(d) - crit, -1.0 + eps, est)
        high = 1.0 if self.z_within(1.0 - eps) >= -crit else brentq(lambda d: self.z_within(d) + crit, est, 1.0 - eps)
        return float(low), float(high)

    def p_within(self, margin: float) -> float:
        return float(tango_p_within(self.lost, self.won, self.n, margin))

    def p_beyond(self, margin: float) -> float:
        return float(tango_p_beyond(self.lost, self.won, self.n, margin))

    def p_zero(self) -> float:
        """Two-sided p of D = 0: exact McNemar."""
        return mcnemar_exact(self.lost, self.won)

    def background(self) -> float:
        """The share of items that flip with no drop (half each way; the data model of `stats.sizing`),
        estimated from the items gained, which a drop does not add to: (2 · won + 1) / (n + 2), never 0,
        and at most 1 (every item flips), the largest share the data model allows. Unbiased but for the
        +1 when the true drop is ≥ 0; a run with a true gain overstates it (past half the items gained,
        it is capped at 1), which makes its MDE and items needed conservative: at 1, no drop fits."""
        return min(1.0, (2.0 * self.won + 1.0) / (self.n + 2.0))

    def moved_variance(self, drop: float) -> float:
        """Variance of the estimate under H0: D = `drop` (Tango's restricted one), for `Forgetting`."""
        return float(tango_parts(self.lost, self.won, self.n, drop)[1]) / self.n**2

    def adjusted(self) -> tuple[float, float]:
        """Agresti–Min: (D, variance of D) with ½ added to each cell of the 2×2 table."""
        b, c, n = self.lost + 0.5, self.won + 0.5, self.n + 2.0
        d = (b - c) / n
        return d, ((b + c) / n - d * d) / n

    def se(self) -> float:
        """Standard error of the drop from the adjusted discordance (never 0)."""
        return math.sqrt(self.adjusted()[1])


@dataclass(frozen=True)
class GradedDrop:
    """A graded metric's paired per-item differences base − ckpt."""

    differences: tuple[float, ...]
    method = "paired t"
    MIN_ITEMS = 3
    """Fewest differences the t test decides on (two give one degree of freedom and, when equal, no
    spread): below it, and with no spread, both p-values are 1 and the interval is undefined."""

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def estimate(self) -> float:
        return float(np.mean(self.differences))

    def spread(self) -> float:
        """Standard deviation of the differences (NaN below two items)."""
        return float(np.std(self.differences, ddof=1)) if self.n > 1 else math.nan

    @property
    def decidable(self) -> bool:
        """At least `MIN_ITEMS` differences, not all equal."""
        return self.n >= self.MIN_ITEMS and self.spread() > 0.0

    def _se(self) -> float:
        return self.spread() / math.sqrt(self.n) if self.n > 1 else math.nan

    def _t(self, margin: float) -> float:
        return (self.estimate - margin) / self._se()

    def interval(self, level: float) -> tuple[float, float]:
        if not self.decidable:
            return math.nan, math.nan
        q = float(student_t.ppf(0.5 + level / 2, self.n - 1)) * self._se()
        return self.estimate - q, self.estimate + q

    def p_within(self, margin: float) -> float:
        return float(student_t.cdf(self._t(margin), self.n - 1)) if self.decidable else 1.0

    def p_beyond(self, margin: float) -> float:
        return float(student_t.sf(self._t(margin), self.n - 1)) if self.decidable else 1.0

    def p_zero(self) -> float:
        if not self.decidable:
            return 1.0
        return float(2 * student_t.sf(abs(self._t(0.0)), self.n - 1))

    def moved_variance(self, drop: float) -> float:
        """Variance of the mean difference (the t variance; no spread: 0), for `Forgetting`."""
        return self._se() ** 2 if self.n > 1 else 0.0

    def adjusted(self) -> tuple[float, float]:
        return self.estimate, self._se() ** 2

    def se(self) -> float:
        return self._se()


Drop = BinaryDrop | GradedDrop


def task_drop(base: np.ndarray, ckpt: np.ndarray) -> Drop:
    """The paired drop of one task: `BinaryDrop` when both score vectors are 0/1, else `GradedDrop`."""
    b, c = np.asarray(base, dtype=np.float64), np.asarray(ckpt, dtype=np.float64)
    if len(b) == 0:
        raise ValueError("no items to compare")
    f = flips(b, c)
    if f is not None:
        return BinaryDrop(f.forgotten, f.gained, len(b))
    return GradedDrop(tuple((b - c).tolist()))


@dataclass(frozen=True)
class Forgetting:
    """F = mean over tasks of D_t, with a stratified score statistic (module docstring, `stratified_z`)."""

    drops: tuple[Drop, ...]
    method = "stratified score, continuity-corrected"

    @property
    def estimate(self) -> float:
        return float(np.mean([d.estimate for d in self.drops]))

    @property
    def decidable(self) -> bool:
        """False when a graded task decides nothing (`GradedDrop.decidable`): F is then undecided."""
        return all(d.decidable for d in self.drops if isinstance(d, GradedDrop))

    def _z(self, margin: float, side: float) -> float:
        binary = [d for d in self.drops if isinstance(d, BinaryDrop)]
        graded = [d for d in self.drops if isinstance(d, GradedDrop)]
        z = stratified_z(
            np.array([[d.lost for d in binary]], dtype=np.float64),
            np.array([[d.won for d in binary]], dtype=np.float64),
            np.array([d.n for d in binary], dtype=np.float64),
            np.array([[d.estimate for d in graded]]),
            np.array([[d.se() ** 2 for d in graded]]),
            margin,
            side,
        )
        return float(z[0])

    def interval(self, level: float) -> tuple[float, float]:
        """The values of F not rejected by either one-sided test at (1 − level) / 2."""
        if not self.decidable:
            return math.nan, math.nan
        crit, est = float(norm.ppf(0.5 + level / 2)), self.estimate
        low_end, high_end = -1.0 + 1e-12, 1.0 - 1e-12
        low = -1.0 if self._z(low_end, 1) <= crit else brentq(lambda m: self._z(m, 1) - crit, low_end, est)
        high = 1.0 if self._z(high_end, -1) >= -crit else brentq(lambda m: self._z(m, -1) + crit, est, high_end)
        return float(low), float(high)

    def p_within(self, margin: float) -> float:
        return float(norm.cdf(self._z(margin, -1))) if self.decidable else 1.0

    def p_beyond(self, margin: float) -> float:
        return float(norm.sf(self._z(margin, 1))) if self.decidable else 1.0

    def se(self) -> float:
        """Standard error of F at the observed drops."""
        k = len(self.drops)
        return math.sqrt(sum(d.moved_variance(d.estimate) for d in self.drops)) / k


def stratified_z(lost, won, n, means, mean_variances, margin: float, side: float) -> np.ndarray:
    """F's score statistic for H0: F ≤ `margin` (`side` +1) or F ≥ `margin` (−1), for R runs at once.

    `lost`, `won`: (R, k₀₁) flip counts of the 0/1 tasks, of sizes `n` (k₀₁,); `means`, `mean_variances`:
    (R, k_graded) the graded tasks' mean differences and their t variances. Under H0 every task's drop is
    moved by the same amount to meet `margin`; a 0/1 task's variance is Tango's restricted one there.
    The continuity correction is half an item of every 0/1 task, as a change of F."""
    k = lost.shape[1] + means.shape[1]
    drops = (lost - won) / n
    f = (drops.sum(axis=1) + means.sum(axis=1)) / k
    moved = np.clip(drops + (margin - f)[:, None], -1 + 1e-12, 1 - 1e-12)
    variance = (tango_parts(lost, won, n, moved)[1] / n**2).sum(axis=1) + mean_variances.sum(axis=1)
    correction = CORRECTION * float(np.sum(1.0 / n)) / k**2
    return _ratio(f - margin - side * correction, variance / k**2)


def forgetting(pairs: list[tuple[np.ndarray, np.ndarray]]) -> Forgetting:
    """The aggregate over tasks given as (base, ckpt) score vectors."""
    if not pairs:
        raise ValueError("no tasks to aggregate")
    return Forgetting(tuple(task_drop(b, c) for b, c in pairs))


def to_points(interval: tuple[float, float], estimate: float, level: float, sign: float = 1.0) -> Interval:
    """A drop interval (fractions) as an `Interval` in points; `sign` −1 turns a drop into a change Δ."""
    lo, hi = sorted((sign * 100.0 * interval[0], sign * 100.0 * interval[1]))
    return Interval(sign * 100.0 * estimate + 0.0, lo + 0.0, hi + 0.0, level)


@dataclass(frozen=True)
class Flips:
    """Item-level changes for 0/1 metrics."""

    forgotten: int
    """Items right under the base and wrong under the checkpoint (1 → 0)."""
    gained: int
    """Items wrong under the base and right under the checkpoint (0 → 1)."""


def flips(base: np.ndarray, ckpt: np.ndarray) -> Flips | None:
    """Flip counts when both score vectors are 0/1; None for graded metrics."""
    b, c = np.asarray(base), np.asarray(ckpt)
    if not (np.isin(b, (0.0, 1.0)).all() and np.isin(c, (0.0, 1.0)).all()):
        return None
    return Flips(int(((b == 1) & (c == 0)).sum()), int(((b == 0) & (c == 1)).sum()))


def chance_adjusted(score: float, chance: float) -> float:
    """(s − chance)/(1 − chance): 0 at chance level, 1 at perfect."""
    return (score - chance) / (1.0 - chance)
