"""Which predictor predicts forgetting: per predictor, the law chosen by leave-one-out (`stats.law`), its
R², its leave-one-out R² with a bootstrap-over-checkpoints interval, Spearman's ρ and n; ranked by
leave-one-out R² (what says whether the predictor forecasts a new checkpoint). Each predictor is fitted on
the checkpoints that have it (a board may hold some predictors for part of its rows only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from forgetbench.stats.law import Correlation, LawKind, R2Interval, fit_all, headline, loo_r2_interval, spearman

MIN_POINTS = 3
"""Checkpoints at distinct values a predictor needs to be ranked."""


@dataclass(frozen=True)
class PredictorRank:
    """How well one predictor predicts forgetting F over a family of checkpoints."""

    name: str
    n: int
    """Checkpoints with a finite value of this predictor and of F."""
    law: LawKind | None
    """The law with the best leave-one-out R² (None when unranked)."""
    r2: float
    """R² of that law on the checkpoints."""
    loo: R2Interval | None
    """Its leave-one-out R² (`loo.r2`) and the bootstrap interval of it."""
    spearman: Correlation
    reason: str | None = None
    """Why the predictor is unranked (too few checkpoints or distinct values); None when ranked."""

    @property
    def loo_r2(self) -> float:
        return self.loo.r2 if self.loo is not None else float("nan")


def rank(
    forgetting: np.ndarray,
    predictors: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    draws: int = 2000,
) -> tuple[PredictorRank, ...]:
    """Every predictor's `PredictorRank`, best leave-one-out R² first (unranked ones last, in the given order)."""
    y = np.asarray(forgetting, dtype=np.float64)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    out = []
    for name, values in predictors.items():
        x = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y)
        xs, ys, ws = x[ok], y[ok], w[ok]
        corr = spearman(xs, ys) if ok.sum() >= 2 else Correlation(float("nan"), float("nan"))
        distinct = len(np.unique(xs))
        if ok.sum() < MIN_POINTS or distinct < MIN_POINTS:
            reason = f"{int(ok.sum())} checkpoint(s) at {distinct} distinct value(s); ranking needs {MIN_POINTS}"
            out.append(PredictorRank(name, int(ok.sum()), None, float("nan"), None, corr, reason))
            continue
        best = headline(fit_all(xs, ys, ws))
        out.append(
            PredictorRank(name, int(ok.sum()), best.kind, best.r2, loo_r2_interval(xs, ys, best.kind, rng, ws, draws), corr)
        )
    ranked = sorted((p for p in out if np.isfinite(p.loo_r2)), key=lambda p: -p.loo_r2)
    return (*ranked, *(p for p in out if not np.isfinite(p.loo_r2)))
