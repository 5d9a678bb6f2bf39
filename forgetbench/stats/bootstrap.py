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


def cluster_mean_draws(values: np.ndarray, clusters: np.ndarray, rng: np.random.Generator, n_boot: int = 2000) -> np.ndarray:
    """Bootstrap replicates of the mean of per-cluster means, clusters resampled with replacement."""
    per_cluster = cluster_means(values, clusters)
    return per_cluster[rng.integers(0, len(per_cluster), size=(n_boot, len(per_cluster)))].mean(axis=1)


def cluster_mean_ci(
    values: np.ndarray, clusters: np.ndarray, rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95
) -> Interval:
    """Mean of per-cluster means, with a percentile bootstrap over clusters.

    Each cluster (a prompt) is averaged first, so a prompt with several samples counts once; the
    clusters are then resampled with replacement. With one value per cluster this is the ordinary
    bootstrap of a mean.
    """
    per_cluster = cluster_means(values, clusters)
    estimate = float(per_cluster.mean())
    if len(per_cluster) < 2:
        return Interval(estimate, float("nan"), float("nan"), level)
    return percentile_interval(estimate, cluster_mean_draws(values, clusters, rng, n_boot), level)
