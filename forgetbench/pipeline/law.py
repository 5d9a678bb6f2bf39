"""`score --law FILE`: the forgetting a law fitted on a leaderboard predicts at this run's KL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forgetbench.core.errors import UserInputError
from forgetbench.core.results import LawPrediction
from forgetbench.leaderboard.law import fit_law, select
from forgetbench.leaderboard.table import read


def rows(path: str, base_fp: str, ckpt_fp: str) -> Any:
    """The leaderboard rows a law may use (same base, not this checkpoint), read before any compute."""
    usable = select(read(Path(path)), base_fingerprint=base_fp, source=path)
    usable = usable[usable["ckpt_fingerprint"] != ckpt_fp]
    if len(usable) < 3:
        raise UserInputError(f"--law {path}: {len(usable)} other checkpoint(s) of this base; a law needs at least 3")
    return usable


def predict(path: str, usable: Any, suite_hash: str, kl: float) -> LawPrediction:
    """The headline law (best leave-one-out R² of linear, quadratic, isotonic) fitted on `usable` rows of
    this suite, evaluated at `kl` (no R² bootstrap)."""
    law = fit_law(usable, path, suite_hash=suite_hash, draws=0)
    best = law.best
    return LawPrediction(path, law.n, best.loo_r2, float(best.predict(kl)), law.warning, best.kind)
