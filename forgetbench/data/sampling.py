"""Fixed, seeded subsamples for the `-lite` suites."""

from __future__ import annotations

import numpy as np


def lite_indices(n_total: int, size: int, seed: int) -> list[int]:
    """`size` distinct indices of range(n_total), chosen by `seed`, in increasing order.

    The same (n_total, size, seed) always gives the same indices; size >= n_total keeps everything.
    """
    if size <= 0 or size >= n_total:
        return list(range(n_total))
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n_total, size=size, replace=False))
