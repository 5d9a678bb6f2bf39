"""Paired statistics for retention: the same items scored under base and checkpoint.

Everything is in points (score × 100). Δ = checkpoint − base, so forgetting shows as Δ < 0 per task
and as F = mean over tasks of (base − checkpoint) > 0 in aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from forgetbench.stats.bootstrap import Interval, percentile_interval


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


def delta_draws(base: np.ndarray, ckpt: np.ndarray, rng: np.random.Generator, n_boot: int = 2000) -> np.ndarray:
    """Bootstrap replicates of Δ = mean(ckpt − base) in points, resampling items jointly."""
    d = 100.0 * (np.asarray(ckpt, dtype=np.float64) - np.asarray(base, dtype=np.float64))
    if len(d) == 0:
        raise ValueError("no items to compare")
    return d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)


def paired_delta_ci(
    base: np.ndarray, ckpt: np.ndarray, rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95
) -> Interval:
    """Δ = mean(ckpt − base) in points with a percentile bootstrap that resamples items jointly."""
    d = 100.0 * (np.asarray(ckpt, dtype=np.float64) - np.asarray(base, dtype=np.float64))
    if len(d) == 0:
        raise ValueError("no items to compare")
    estimate = float(d.mean())
    if len(d) < 2:
        return Interval(estimate, float("nan"), float("nan"), level)
    return percentile_interval(estimate, delta_draws(base, ckpt, rng, n_boot), level)


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


def forgetting_draws(pairs: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, n_boot: int = 2000) -> np.ndarray:
    """Bootstrap replicates of F = mean over tasks of (base − ckpt) in points, items resampled within each task."""
    draws = np.zeros(n_boot)
    for base, ckpt in pairs:
        draws -= delta_draws(base, ckpt, rng, n_boot)
    return draws / len(pairs)


def forgetting_ci(
    pairs: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95
) -> Interval:
    """F = mean over tasks of (base − ckpt) in points; bootstrap resamples items within each task."""
    estimate = float(np.mean([100.0 * (np.mean(b) - np.mean(c)) for b, c in pairs]))
    return percentile_interval(estimate, forgetting_draws(pairs, rng, n_boot), level)


def chance_adjusted(score: float, chance: float) -> float:
    """(s − chance)/(1 − chance): 0 at chance level, 1 at perfect."""
    return (score - chance) / (1.0 - chance)
