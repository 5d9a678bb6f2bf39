"""Paired statistics for retention: the same items scored under base and checkpoint.

A task's *drop* is D = mean(base − ckpt), as a fraction of the metric (callers report points,
D × 100); positive means forgotten. Which method serves depends on the metric, and was chosen by
simulation at the sizes users run (20–60 items, few or no flips; `benchmarks/gate_calibration.py`,
tests/stats/test_coverage.py):

- 0/1 metrics (`BinaryDrop`): Tango's score test and the interval that inverts it (Tango 1998,
  Stat Med 17:891). The nuisance (the share of discordant items) is estimated under the null, so the
  test keeps its level at 20 items with zero or one-way flips, where a bootstrap of the items cannot
  (every resample of a task with no flip is 0). Significance of a drop (D ≠ 0) is the exact
  conditional McNemar test.
- graded metrics (`GradedDrop`): the paired t interval and test on the per-item differences.
- the aggregate F = mean over tasks of D_t (`forgetting`): a stratified Wald interval in which every
  0/1 task is Agresti–Min adjusted (½ added to each cell of its 2×2 table), so a task with no flip still
  carries variance. It covers ≥ 95 % over the offline-lite sizes where the percentile bootstrap covered
  89–94 %.

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

POWER = 0.8
"""Power at which minimum detectable effects and the items needed are stated."""


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


@dataclass(frozen=True)
class BinaryDrop:
    """A 0/1 task's paired outcome: items lost (1 → 0) and won (0 → 1) out of `n`."""

    lost: int
    won: int
    n: int
    method = "Tango score"

    @property
    def estimate(self) -> float:
        return (self.lost - self.won) / self.n

    def z(self, drop: float) -> float:
        """Tango's score statistic for H0: D = `drop`, the share of discordant items estimated under H0
        (restricted maximum likelihood, closed form)."""
        b, c, n, d = self.lost, self.won, self.n, drop
        a_, b_, c_ = 2.0 * n, -b - c + (2.0 * n - b + c) * d, -c * d * (1.0 - d)
        q = (-b_ + math.sqrt(max(b_ * b_ - 4.0 * a_ * c_, 0.0))) / (2.0 * a_)  # P(0 → 1) under H0
        numerator = b - c - n * d
        variance = n * (2.0 * q + d * (1.0 - d))
        if variance <= 0.0:
            return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
        return numerator / math.sqrt(variance)

    def interval(self, level: float) -> tuple[float, float]:
        """The drops not rejected by the two-sided score test at 1 − level."""
        crit = float(norm.ppf(0.5 + level / 2))
        est, eps = self.estimate, 1e-12
        low = -1.0 if self.z(-1.0 + eps) <= crit else brentq(lambda d: self.z(d) - crit, -1.0 + eps, est)
        high = 1.0 if self.z(1.0 - eps) >= -crit else brentq(lambda d: self.z(d) + crit, est, 1.0 - eps)
        return float(low), float(high)

    def p_within(self, margin: float) -> float:
        return float(norm.cdf(self.z(margin)))

    def p_beyond(self, margin: float) -> float:
        return float(norm.sf(self.z(margin)))

    def p_zero(self) -> float:
        """Two-sided p of D = 0: exact McNemar."""
        return mcnemar_exact(self.lost, self.won)

    def adjusted(self) -> tuple[float, float]:
        """Agresti–Min: (D, variance of D) with ½ added to each cell of the 2×2 table."""
        b, c, n = self.lost + 0.5, self.won + 0.5, self.n + 2.0
        d = (b - c) / n
        return d, ((b + c) / n - d * d) / n

    def se(self) -> float:
        """Standard error of the drop from the adjusted discordance (never 0): what sizes a study."""
        return math.sqrt(self.adjusted()[1])


@dataclass(frozen=True)
class GradedDrop:
    """A graded metric's paired per-item differences base − ckpt."""

    differences: tuple[float, ...]
    method = "paired t"

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def estimate(self) -> float:
        return float(np.mean(self.differences))

    def _se(self) -> float:
        return float(np.std(self.differences, ddof=1)) / math.sqrt(self.n) if self.n > 1 else math.nan

    def _t(self, margin: float) -> float:
        se, gap = self._se(), self.estimate - margin
        if se == 0.0:
            return 0.0 if gap == 0.0 else math.copysign(math.inf, gap)
        return gap / se

    def interval(self, level: float) -> tuple[float, float]:
        if self.n < 2:
            return math.nan, math.nan
        q = float(student_t.ppf(0.5 + level / 2, self.n - 1)) * self._se()
        return self.estimate - q, self.estimate + q

    def p_within(self, margin: float) -> float:
        return float(student_t.cdf(self._t(margin), max(self.n - 1, 1)))

    def p_beyond(self, margin: float) -> float:
        return float(student_t.sf(self._t(margin), max(self.n - 1, 1)))

    def p_zero(self) -> float:
        t = abs(self._t(0.0))
        return 1.0 if t == 0.0 else float(2 * student_t.sf(t, max(self.n - 1, 1)))

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
    """F = mean over tasks of D_t, with the stratified Agresti–Min Wald statistic."""

    drops: tuple[Drop, ...]
    method = "stratified Wald, Agresti–Min adjusted"

    @property
    def estimate(self) -> float:
        return float(np.mean([d.estimate for d in self.drops]))

    def _centre_se(self) -> tuple[float, float]:
        parts = [d.adjusted() for d in self.drops]
        k = len(parts)
        return sum(p[0] for p in parts) / k, math.sqrt(sum(p[1] for p in parts)) / k

    def _z(self, margin: float) -> float:
        centre, se = self._centre_se()
        if se == 0.0:
            return 0.0 if centre == margin else math.copysign(math.inf, centre - margin)
        return (centre - margin) / se

    def interval(self, level: float) -> tuple[float, float]:
        centre, se = self._centre_se()
        q = float(norm.ppf(0.5 + level / 2)) * se
        return centre - q, centre + q

    def p_within(self, margin: float) -> float:
        return float(norm.cdf(self._z(margin)))

    def p_beyond(self, margin: float) -> float:
        return float(norm.sf(self._z(margin)))

    def se(self) -> float:
        return self._centre_se()[1]


def forgetting(pairs: list[tuple[np.ndarray, np.ndarray]]) -> Forgetting:
    """The aggregate over tasks given as (base, ckpt) score vectors."""
    if not pairs:
        raise ValueError("no tasks to aggregate")
    return Forgetting(tuple(task_drop(b, c) for b, c in pairs))


def to_points(interval: tuple[float, float], estimate: float, level: float, sign: float = 1.0) -> Interval:
    """A drop interval (fractions) as an `Interval` in points; `sign` −1 turns a drop into a change Δ."""
    lo, hi = sorted((sign * 100.0 * interval[0], sign * 100.0 * interval[1]))
    return Interval(sign * 100.0 * estimate + 0.0, lo + 0.0, hi + 0.0, level)


def resolution(se: float, alpha: float, power: float = POWER) -> float:
    """How far from its limit a value must be for a one-sided test at `alpha` to decide it with `power`
    (normal approximation): (z₁₋α + z_power) · se."""
    return float((norm.ppf(1 - alpha) + norm.ppf(power)) * se)


def size_needed(n: int, se: float, gap: float, alpha: float, power: float = POWER) -> int | None:
    """Units (items, prompts) at which a value `gap` from the limit is decided with `power`, the
    standard error scaling as 1/√n; None when the gap is zero (a value at the limit is never decided)."""
    if gap == 0.0 or not math.isfinite(se):
        return None
    return max(2, math.ceil(n * (resolution(se, alpha, power) / abs(gap)) ** 2))


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
