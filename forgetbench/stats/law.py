"""Fitting forgetting against KL (RL's Razor): the paper's quadratic and a monotone alternative.

- quadratic: F = a + b·KL + c·KL², ordinary least squares;
- monotone: isotonic (non-decreasing) regression of F on KL by pool-adjacent-violators, predicted
  between fitted points by linear interpolation (flat beyond the ends).

Both report R² on the fitted points and leave-one-out R² (1 − PRESS / SS_tot: each point predicted
by the fit to the others), which is what says whether the law predicts a new checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_TRUSTED_N = 10  # below this many checkpoints, a fitted law is reported with a warning


@dataclass(frozen=True)
class Fit:
    """One fitted law."""

    kind: str
    """`quadratic` or `isotonic`."""
    n: int
    """Points (checkpoints) fitted."""
    coefficients: tuple[float, ...]
    """quadratic: (a, b, c); isotonic: the fitted values at the sorted KLs."""
    knots: tuple[float, ...]
    """isotonic: the sorted KLs; quadratic: empty."""
    r2: float
    """R² on the fitted points."""
    loo_r2: float
    """Leave-one-out R² (NaN when n is too small to leave one out)."""

    def predict(self, kl: float | np.ndarray) -> np.ndarray:
        x = np.asarray(kl, dtype=np.float64)
        if self.kind == "quadratic":
            a, b, c = self.coefficients
            return a + b * x + c * x**2
        return np.interp(x, self.knots, self.coefficients)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    return float("nan") if ss == 0 else 1.0 - float(((y - pred) ** 2).sum()) / ss


def _quadratic(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    design = np.stack([np.ones_like(x), x, x**2], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(coef[0]), float(coef[1]), float(coef[2])


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


def _isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x, kind="stable")
    return x[order], pava(y[order])


def fit(kl: np.ndarray, forgetting: np.ndarray, kind: str) -> Fit:
    """Fit `kind` (`quadratic` or `isotonic`) to the points; needs at least 3 (quadratic) or 2."""
    x, y = np.asarray(kl, dtype=np.float64), np.asarray(forgetting, dtype=np.float64)
    n = len(x)
    need = 3 if kind == "quadratic" else 2
    if n < need:
        raise ValueError(f"a {kind} law needs at least {need} checkpoints, got {n}")

    def fitted(xs: np.ndarray, ys: np.ndarray) -> Fit:
        if kind == "quadratic":
            return Fit(kind, len(xs), _quadratic(xs, ys), (), float("nan"), float("nan"))
        knots, values = _isotonic(xs, ys)
        return Fit(kind, len(xs), tuple(values.tolist()), tuple(knots.tolist()), float("nan"), float("nan"))

    full = fitted(x, y)
    r2 = _r2(y, full.predict(x))
    loo = float("nan")
    if n > need:
        keep = np.ones(n, dtype=bool)
        preds = np.empty(n)
        for i in range(n):
            keep[i] = False
            preds[i] = fitted(x[keep], y[keep]).predict(x[i])
            keep[i] = True
        loo = _r2(y, preds)
    return Fit(kind, n, full.coefficients, full.knots, r2, loo)
