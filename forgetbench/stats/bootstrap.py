"""Bootstrap confidence intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided percentile-bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    level: float
    """Coverage, e.g. 0.95."""


def cluster_mean_ci(
    values: np.ndarray, clusters: np.ndarray, rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95
) -> Interval:
    """Mean of per-cluster means, with a percentile bootstrap over clusters.

    Each cluster (a prompt) is averaged first, so a prompt with several samples counts once; the
    clusters are then resampled with replacement. With one value per cluster this is the ordinary
    bootstrap of a mean.
    """
    values = np.asarray(values, dtype=np.float64)
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    per_cluster = np.bincount(inverse, weights=values) / np.bincount(inverse)
    n = len(per_cluster)
    estimate = float(per_cluster.mean())
    if n < 2:
        return Interval(estimate, float("nan"), float("nan"), level)
    draws = rng.integers(0, n, size=(n_boot, n))
    means = per_cluster[draws].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(estimate, float(low), float(high), level)
