"""Bootstrap confidence intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided percentile-bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    level: float
    """Coverage, e.g. 0.95."""


def percentile_interval(estimate: float, draws: np.ndarray, level: float) -> Interval:
    """Two-sided percentile interval of bootstrap replicates around a point estimate."""
    a = (1 - level) / 2
    low, high = np.quantile(draws, [a, 1 - a])
    return Interval(estimate, float(low), float(high), level)


def cluster_means(values: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Per-cluster means (a prompt's samples averaged first), ordered by cluster id."""
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    values = np.asarray(values, dtype=np.float64)
    return np.bincount(inverse, weights=values) / np.bincount(inverse)


LOGNORMAL_MAX_LOG_SD = 2.5
"""Beyond this spread of log per-prompt values the lognormal mean exp(μ + σ²/2) is an extrapolated
tail, not a description of the data: the lognormal bound is not joined."""


@dataclass(frozen=True)
class MeanTest:
    """The mean of per-cluster means, with a studentized bootstrap (bootstrap-t) over clusters joined,
    when every value is positive and not too spread on the log scale, by the lognormal (Cox) interval:
    the interval is the union of both, a one-sided test rejects only when both reject.

    Why (tests/stats/test_coverage.py, 32 prompts, lognormal per-prompt values): the percentile
    bootstrap covered 93 / 89 / 80 % at σ = 0.5 / 1 / 1.5 and its upper bound missed almost always
    below the truth; bootstrap-t alone 94 / 91–93 / 89–93 %; the union ≥ 95 % at σ ≤ 1.5 (and at σ = 2),
    with its one-sided 95 % upper bound below the truth in ≤ 5 % of runs."""

    clusters: np.ndarray
    """Per-cluster means (a prompt's samples averaged first)."""
    t_draws: np.ndarray
    """Bootstrap replicates of (mean* − mean) / se*."""

    @property
    def estimate(self) -> float:
        return float(self.clusters.mean())

    @property
    def n(self) -> int:
        return len(self.clusters)

    def se(self) -> float:
        return float(self.clusters.std(ddof=1)) / np.sqrt(self.n) if self.n > 1 else float("nan")

    @property
    def lognormal(self) -> bool:
        """Whether the lognormal interval is joined."""
        x = self.clusters
        return self.n > 2 and bool((x > 0).all()) and float(np.log(x).std(ddof=1)) <= LOGNORMAL_MAX_LOG_SD

    @property
    def method(self) -> str:
        return "studentized bootstrap ∪ lognormal (Cox)" if self.lognormal else "studentized bootstrap"

    def _cox(self) -> tuple[float, float]:
        """(log-mean estimate ȳ + s²/2, its standard error) on the log scale."""
        y = np.log(self.clusters)
        s2 = float(y.var(ddof=1))
        return float(y.mean()) + s2 / 2, float(np.sqrt(s2 / self.n + s2 * s2 / (2 * (self.n - 1))))

    def interval(self, level: float) -> tuple[float, float]:
        se, m = self.se(), self.estimate
        if not self.n > 1:
            return float("nan"), float("nan")
        if se == 0.0:
            return m, m
        a = (1 - level) / 2
        t_lo, t_hi = np.quantile(self.t_draws, [a, 1 - a])
        low, high = m - t_hi * se, m - t_lo * se
        if self.lognormal:
            centre, se_log = self._cox()
            q = float(student_t.ppf(1 - a, self.n - 1)) * se_log
            low, high = min(low, float(np.exp(centre - q))), max(high, float(np.exp(centre + q)))
        return float(low), float(high)

    def _p(self, limit: float, upper: bool) -> float:
        se, m = self.se(), self.estimate
        if not se > 0:
            return 0.0 if (m < limit if upper else m > limit) else 1.0
        t_obs = (m - limit) / se
        hits = (self.t_draws <= t_obs) if upper else (self.t_draws >= t_obs)
        p = (1 + int(hits.sum())) / (len(self.t_draws) + 1)
        if self.lognormal and limit > 0:
            centre, se_log = self._cox()
            z = (np.log(limit) - centre) / se_log
            p = max(p, float(student_t.sf(z, self.n - 1) if upper else student_t.cdf(z, self.n - 1)))
        return p

    def p_within(self, limit: float) -> float:
        """p of H0: mean ≥ limit."""
        return self._p(limit, upper=True)

    def p_beyond(self, limit: float) -> float:
        """p of H0: mean ≤ limit."""
        return self._p(limit, upper=False)


def mean_test(values: np.ndarray, clusters: np.ndarray, rng: np.random.Generator, n_boot: int = 4000) -> MeanTest:
    """`MeanTest` of per-sample `values` grouped by `clusters` (prompt ids)."""
    per = cluster_means(values, clusters)
    n = len(per)
    if n < 2:
        return MeanTest(per, np.zeros(0))
    draws = per[rng.integers(0, n, size=(n_boot, n))]
    means, ses = draws.mean(axis=1), draws.std(axis=1, ddof=1) / np.sqrt(n)
    ok = ses > 0
    return MeanTest(per, (means[ok] - per.mean()) / ses[ok])
