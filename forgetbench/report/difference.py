"""Forgetting of one checkpoint against another's, paired over the prior-suite items both were scored on."""

from __future__ import annotations

from pathlib import Path

from forgetbench.core.errors import DataError
from forgetbench.runs import layout
from forgetbench.stats.bootstrap import Interval
from forgetbench.stats.paired import forgetting, to_points


def forgetting_difference(a: Path, b: Path, level: float = 0.95) -> Interval:
    """F_b − F_a in points, with its interval, from two score run folders of one base and suite: the mean
    over tasks of a's minus b's accuracy on the same items (`stats.paired.forgetting`, a taken as the
    "base"; their shared base's scores cancel). Positive: b forgot more than a."""
    import pandas as pd

    def items(run: Path) -> pd.DataFrame:
        return pd.read_parquet(run / layout.ITEMS).set_index(["task", "doc_hash"]).sort_index()

    x, y = items(a), items(b)
    if not x.index.equals(y.index):
        raise DataError(f"{a} and {b} were not scored on the same items")
    tasks = x.index.unique("task")
    agg = forgetting([(x.loc[t, "ckpt"].to_numpy(), y.loc[t, "ckpt"].to_numpy()) for t in tasks])
    return to_points(agg.interval(level), agg.estimate, level)
