"""Multiple-testing corrections: adjusted p-values (reject where adjusted p ≤ α)."""

from __future__ import annotations

import numpy as np


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: controls the family-wise error rate under any dependence.
    Sorted ascending, p_(i) becomes max_{j ≤ i} min(1, (m − j + 1) · p_(j))."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(stepped)
    return out.tolist()


def bonferroni(p_values: list[float]) -> list[float]:
    """min(1, m · p)."""
    return [min(1.0, len(p_values) * p) for p in p_values]


def adjust(p_values: list[float], method: str) -> list[float]:
    """Adjusted p-values by `holm`, `bonferroni` or `none`."""
    if not p_values:
        return []
    if method == "holm":
        return holm(p_values)
    if method == "bonferroni":
        return bonferroni(p_values)
    if method == "none":
        return list(p_values)
    raise ValueError(f"unknown correction {method!r}")
