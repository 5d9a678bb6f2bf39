"""The forgetting-vs-KL law over a leaderboard's rows (RL's Razor): which rows qualify, and both fits
(`stats.law`). Reads a frame of the CSV; never writes it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forgetbench.core.errors import DataError
from forgetbench.stats.law import MIN_TRUSTED_N, Fit, fit


@dataclass(frozen=True)
class Law:
    """Forgetting (points) against forward KL (nats/sequence) over a leaderboard's rows."""

    source: str
    """The leaderboard file."""
    n: int
    """Checkpoints fitted."""
    quadratic: Fit
    """The paper's F = a + b·KL + c·KL²."""
    isotonic: Fit | None
    """The monotone alternative (None when n < 3)."""
    warning: str | None
    """Set when n is too small to trust the fit."""
    base_fingerprints: tuple[str, ...]
    """Bases whose rows were fitted."""
    suite_hash: str
    """The (single) suite of the rows."""


def select(frame, base_fingerprint: str | None = None, suite_hash: str | None = None):
    """Rows usable for the law: forward KL, finite KL and forgetting, optionally one base / suite."""
    rows = frame[frame["kl_direction"] == "forward"]
    if base_fingerprint is not None:
        rows = rows[rows["base_fingerprint"] == base_fingerprint]
    if suite_hash is not None:
        rows = rows[rows["suite_hash"] == suite_hash]
    return rows[np.isfinite(rows["kl"].astype(float)) & np.isfinite(rows["forgetting"].astype(float))]


def fit_law(frame, source: str, base_fingerprint: str | None = None, suite_hash: str | None = None) -> Law:
    """Fit both laws to the selected rows (DataError when fewer than 3 rows or several suites)."""
    rows = select(frame, base_fingerprint, suite_hash)
    suites = sorted(set(rows["suite_hash"]))
    if len(suites) > 1:
        raise DataError(f"{source}: rows of {len(suites)} suites; a law is fitted within one suite")
    if len(rows) < 3:
        raise DataError(f"{source}: {len(rows)} usable row(s); fitting a law needs at least 3 checkpoints")
    x, y = rows["kl"].to_numpy(float), rows["forgetting"].to_numpy(float)
    n = len(rows)
    warning = (
        (f"only {n} checkpoints: R² from fewer than {MIN_TRUSTED_N} points is not to be trusted; leave-one-out R² says more")
        if n < MIN_TRUSTED_N
        else None
    )
    return Law(
        source, n, fit(x, y, "quadratic"), fit(x, y, "isotonic"), warning, tuple(sorted(set(rows["base_fingerprint"]))), suites[0]
    )


def law_for(file: Path, base: str | None = None) -> tuple[Any, Law]:
    """The leaderboard `file` and the law fitted on its rows, optionally only those of `base` (a spec
    as published in the `base` column, or a base fingerprint)."""
    from forgetbench.leaderboard.table import read

    frame = read(file)
    fingerprint = None
    if base is not None:
        match = frame[(frame["base"] == base) | (frame["base_fingerprint"] == base)]
        if match.empty:
            raise DataError(f"{file}: no rows with base {base!r}")
        fingerprint = str(match["base_fingerprint"].iloc[0])
    return frame, fit_law(frame, str(file), base_fingerprint=fingerprint)
