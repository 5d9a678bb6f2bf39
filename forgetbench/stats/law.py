"""Fitting forgetting F (points) against KL (nats) (RL's Razor): three laws, how well each predicts, and
which one to believe.

- linear: F = a + b·KL, least squares;
- quadratic: F = a + b·KL + c·KL² (the paper's), least squares;
- isotonic: a non-decreasing step fit. Rows at the same KL are pooled first (their weighted mean, with
  their summed weight), then pool-adjacent-violators runs over the distinct KLs, so tied rows get one
  fitted value whatever their order (as scikit-learn's `IsotonicRegression`). Between distinct KLs it
  predicts by linear interpolation, flat beyond the ends.

Each fit reports R² on the fitted points and leave-one-out R² (1 − PRESS / SS_tot: each point predicted
by the fit to the others), which is what says whether the law predicts a new checkpoint; the headline
law is the one with the best leave-one-out R² (`headline`). With weights (e.g. 1/se² of each F), the
fits are weighted least squares / weighted PAVA and both R² are weighted (SS about the weighted mean).
`spearman` says whether F rises with KL at all; `r2_interval` is a bootstrap over checkpoints of R², and
`loo_r2_interval` one of leave-one-out R² (a resample's copies of a checkpoint are one point weighted by
their count, left out together, so no checkpoint predicts itself).
Checkpoints of one base share its item outcomes, so their F errors are correlated: the leave-one-out
and the bootstrap treat them as independent and are optimistic.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from forgetbench.stats.bootstrap import percentile_interval

MIN_TRUSTED_N = 10  # below this many checkpoints, a fitted law is reported with a warning
LawKind = Literal["linear", "quadratic", "isotonic"]
KINDS: tuple[LawKind, ...] = ("linear", "quadratic", "isotonic")
"""The laws, simplest first (a tie in leave-one-out R² goes to the simpler)."""
MIN_DISTINCT: dict[str, int] = {"linear": 2, "quadratic": 3, "isotonic": 2}
"""Distinct KL values a law needs to be fitted (a leave-one-out R² needs this many without any one point)."""
TIE = 1e-9  # leave-one-out R² this close count as a tie


@dataclass(frozen=True)
class Fit:
    """One fitted law."""

    kind: LawKind
    """`linear`, `quadratic` or `isotonic`."""
    n: int
    """Points (checkpoints) fitted."""
    coefficients: tuple[float, ...]
    """linear: (a, b); quadratic: (a, b, c); isotonic: the fitted values at the distinct sorted KLs."""
    knots: tuple[float, ...]
    """isotonic: the distinct sorted KLs; linear, quadratic: empty."""
    r2: float
    """R² on the fitted points (weighted when the fit is)."""
    loo_r2: float
    """Leave-one-out R² (NaN when too few points or distinct KLs remain without some point)."""

    def predict(self, kl: float | np.ndarray) -> np.ndarray:
        return _predict(self.kind, self.coefficients, self.knots, np.asarray(kl, dtype=np.float64))


@dataclass(frozen=True)
class Correlation:
    """Spearman's rank correlation of F with KL and its two-sided p-value (scipy's; unweighted)."""

    rho: float
    p_value: float


@dataclass(frozen=True)
class R2Interval:
    """A percentile-bootstrap interval of a law's R²: checkpoints resampled with replacement, the law
    refitted, R² recomputed on the resample."""

    kind: LawKind
    """The law whose R² this is."""
    r2: float
    """The R² it is an interval of: on the checkpoints themselves (`r2_interval`), or leave-one-out (`loo_r2_interval`)."""
    low: float
    high: float
    level: float
    """Coverage, e.g. 0.95."""
    draws: int
    """Resamples drawn."""
    used: int
    """Resamples used: the others had fewer distinct KLs than the law needs (and at least 3) or a constant F."""


def _predict(kind: str, coefficients: tuple[float, ...], knots: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    if kind == "isotonic":
        return np.interp(x, knots, coefficients)
    return np.polynomial.polynomial.polyval(x, coefficients)


def _r2(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    ss = float((w * (y - np.average(y, weights=w)) ** 2).sum())
    return float("nan") if ss == 0 else 1.0 - float((w * (y - pred) ** 2).sum()) / ss


def _polynomial(x: np.ndarray, y: np.ndarray, w: np.ndarray, degree: int) -> tuple[float, ...]:
    """Weighted least squares of y on 1, x, …, x^degree (coefficients lowest power first)."""
    sw = np.sqrt(w)
    design = np.vander(x, degree + 1, increasing=True)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    return tuple(float(c) for c in coef)


def pava(y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Pool-adjacent-violators: the non-decreasing sequence closest to `y` in weighted least squares."""
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=np.float64)
    values, weights, sizes = [], [], []
    for yi, wi in zip(y, w):
        values.append(yi)
        weights.append(wi)
        sizes.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            v2, w2, s2 = values.pop(), weights.pop(), sizes.pop()
            v1, w1, s1 = values.pop(), weights.pop(), sizes.pop()
            values.append((v1 * w1 + v2 * w2) / (w1 + w2))
            weights.append(w1 + w2)
            sizes.append(s1 + s2)
    return np.repeat(values, sizes)


def _isotonic(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct sorted KLs and the fitted values there: ties pooled (weighted mean, summed weight), then PAVA."""
    knots, inverse = np.unique(x, return_inverse=True)
    weight = np.bincount(inverse, weights=w)
    return knots, pava(np.bincount(inverse, weights=w * y) / weight, weight)


def _coefficients(x: np.ndarray, y: np.ndarray, w: np.ndarray, kind: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if kind == "isotonic":
        knots, values = _isotonic(x, y, w)
        return tuple(values.tolist()), tuple(knots.tolist())
    return _polynomial(x, y, w, 1 if kind == "linear" else 2), ()


def _arrays(kl, forgetting, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = np.asarray(kl, dtype=np.float64), np.asarray(forgetting, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if not (x.shape == y.shape == w.shape and x.ndim == 1):
        raise ValueError("kl, forgetting and weights must be 1-d arrays of one length")
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise ValueError("weights must be finite and positive")
    return x, y, w


def fit(kl: np.ndarray, forgetting: np.ndarray, kind: LawKind, weights: np.ndarray | None = None) -> Fit:
    """Fit `kind` to the points (optionally weighted); needs `MIN_DISTINCT[kind]` distinct KLs."""
    if kind not in KINDS:
        raise ValueError(f"unknown law {kind!r}; one of {', '.join(KINDS)}")
    x, y, w = _arrays(kl, forgetting, weights)
    need = MIN_DISTINCT[kind]
    if len(np.unique(x)) < need:
        raise ValueError(f"a {kind} law needs at least {need} distinct KL values, got {len(np.unique(x))}")
    coefficients, knots = _coefficients(x, y, w, kind)
    r2 = _r2(y, _predict(kind, coefficients, knots, x), w)
    if kind != "isotonic":
        return Fit(kind, len(x), coefficients, knots, r2, _polynomial_loo(x, y, w, kind, coefficients))
    n, loo = len(x), float("nan")
    keep = np.ones(n, dtype=bool)
    preds = np.empty(n)
    for i in range(n):
        keep[i] = False
        if len(np.unique(x[keep])) < need:
            break
        preds[i] = _predict(kind, *_coefficients(x[keep], y[keep], w[keep], kind), x[i : i + 1])[0]
        keep[i] = True
    else:
        loo = _r2(y, preds, w)
    return Fit(kind, n, coefficients, knots, r2, loo)


def _polynomial_loo(x: np.ndarray, y: np.ndarray, w: np.ndarray, kind: str, coefficients: tuple[float, ...]) -> float:
    """Leave-one-out R² of a (weighted) least-squares polynomial in closed form: point i's error when left
    out is its residual / (1 − h_ii), h the hat matrix's diagonal. NaN when some point's removal leaves fewer
    distinct KLs than the law needs (it alone pins the fit)."""
    need = MIN_DISTINCT[kind]
    values, counts = np.unique(x, return_counts=True)
    if len(values) - int((counts == 1).any()) < need:
        return float("nan")
    design = np.vander(x, need, increasing=True)
    gram = design.T @ (design * w[:, None])
    h = w * np.einsum("ij,jk,ik->i", design, np.linalg.inv(gram), design)
    residual = y - _predict(kind, coefficients, (), x)
    return _r2(y, y - residual / (1 - h), w)


def fit_all(kl: np.ndarray, forgetting: np.ndarray, weights: np.ndarray | None = None) -> tuple[Fit, ...]:
    """The three laws (`KINDS` order)."""
    return tuple(fit(kl, forgetting, kind, weights) for kind in KINDS)


def headline(fits: Sequence[Fit]) -> Fit:
    """The fit with the best leave-one-out R²; a tie (within `TIE`) goes to the simpler law (`KINDS`
    order), a NaN loses; the simplest when none has one."""
    ordered = sorted(fits, key=lambda f: KINDS.index(f.kind))
    scored = [f for f in ordered if np.isfinite(f.loo_r2)]
    if not scored:
        return ordered[0]
    best = max(f.loo_r2 for f in scored)
    return next(f for f in scored if f.loo_r2 >= best - TIE)


def spearman(kl: np.ndarray, forgetting: np.ndarray) -> Correlation:
    """Spearman's ρ of F with KL and its p-value (NaN when either is constant)."""
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        result = stats.spearmanr(kl, forgetting)
    return Correlation(float(result.statistic), float(result.pvalue))


def r2_interval(
    kl: np.ndarray,
    forgetting: np.ndarray,
    kind: LawKind,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    draws: int = 2000,
    level: float = 0.95,
) -> R2Interval:
    """Percentile-bootstrap interval of `kind`'s R² over checkpoints (rows resampled with replacement,
    weights travelling with their rows); resamples with fewer than max(3, `MIN_DISTINCT`) distinct KLs or
    a constant F are skipped and counted out of `used`. Treats checkpoints as independent (see module)."""
    x, y, w = _arrays(kl, forgetting, weights)
    need = max(3, MIN_DISTINCT[kind])
    r2 = _r2(y, _predict(kind, *_coefficients(x, y, w, kind), x), w)
    values = []
    for rows in rng.integers(0, len(x), size=(draws, len(x))):
        xs, ys, ws = x[rows], y[rows], w[rows]
        if len(np.unique(xs)) < need:
            continue
        value = _r2(ys, _predict(kind, *_coefficients(xs, ys, ws, kind), xs), ws)
        if np.isfinite(value):
            values.append(value)
    if not values:
        return R2Interval(kind, r2, float("nan"), float("nan"), level, draws, 0)
    interval = percentile_interval(r2, np.asarray(values), level)
    return R2Interval(kind, r2, interval.low, interval.high, level, draws, len(values))


def loo_r2_interval(
    kl: np.ndarray,
    forgetting: np.ndarray,
    kind: LawKind,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    draws: int = 1000,
    level: float = 0.95,
) -> R2Interval:
    """BCa bootstrap interval (scipy's `stats.bootstrap`) of `kind`'s leave-one-out R² over checkpoints. In
    each resample the distinct checkpoints are fitted with their count as a weight (times their own weight)
    and left out one checkpoint at a time, all its copies together, so no checkpoint predicts itself.
    A resample without a leave-one-out R² (too few distinct KLs, a constant F) is NaN and leaves the
    interval NaN: no interval rather than a wrong one (a quadratic law on 10 checkpoints: 26–29% of
    simulated families). Where it gives one, it covers the law's population R² in 0.94–0.99 of simulated
    families of 10–30 checkpoints (`benchmarks/ranking_calibration.py`, docs/leaderboards.md); treats
    checkpoints as independent (see module)."""
    from scipy import stats

    x, y, w = _arrays(kl, forgetting, weights)
    loo = fit(x, y, kind, w).loo_r2

    def statistic(rows: np.ndarray) -> float:
        counts = np.bincount(rows.astype(int), minlength=len(x))
        kept = counts > 0
        if len(np.unique(x[kept])) <= MIN_DISTINCT[kind]:
            return float("nan")
        return fit(x[kept], y[kept], kind, w[kept] * counts[kept]).loo_r2

    if not np.isfinite(loo):
        return R2Interval(kind, loo, float("nan"), float("nan"), level, draws, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns of a degenerate or NaN resample; the interval says it
        result = stats.bootstrap(
            (np.arange(len(x)),), statistic, n_resamples=draws, method="BCa", confidence_level=level, vectorized=False, rng=rng
        )
    used = int(np.isfinite(result.bootstrap_distribution).sum())
    low, high = (float(v) for v in result.confidence_interval)
    return R2Interval(kind, loo, low, high, level, draws, used)
