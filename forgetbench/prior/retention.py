"""Base vs checkpoint on the same prior-capability items: pairing (on task, doc_id, doc_hash) and the
per-task and aggregate retention statistics."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from forgetbench.core.errors import DataError
from forgetbench.core.results import EvalResult, Retention, TaskComparison, TaskResult
from forgetbench.stats.multiple import holm
from forgetbench.stats.paired import BinaryDrop, chance_adjusted, forgetting, task_drop, to_points

LEVEL = 0.95

SHARED_SETTINGS = ("backend", "dtype", "limit", "num_fewshot", "chat_template", "seeds", "lm_eval_version")


def pair(base: TaskResult, ckpt: TaskResult) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the same items, joined on (task, doc_id, doc_hash); any mismatch is an error."""
    b = {(i.task, i.doc_id): i for i in base.items}
    c = {(i.task, i.doc_id): i for i in ckpt.items}
    if b.keys() != c.keys():
        only = sorted(b.keys() ^ c.keys())[0]
        raise DataError(f"task {base.task}: base has {len(b)} items, checkpoint {len(c)}; item {only} is on one side only")
    keys = sorted(b)
    bad = next((k for k in keys if b[k].doc_hash != c[k].doc_hash), None)
    if bad is not None:
        raise DataError(f"task {base.task}: doc {bad[1]} differs between base and checkpoint (doc_hash mismatch)")
    return np.array([b[k].score for k in keys]), np.array([c[k].score for k in keys])


def check_comparable(base: EvalResult, ckpt: EvalResult, settings: tuple[str, ...] = SHARED_SETTINGS) -> None:
    """Refuse comparisons whose halves were made differently (`settings`: backend, dtype, limit, ...)."""
    if base.suite != ckpt.suite:
        raise DataError(f"suites differ: {base.suite} vs {ckpt.suite}")
    for name in settings:
        a, b = getattr(base.settings, name), getattr(ckpt.settings, name)
        if a != b:
            raise DataError(f"base and checkpoint were evaluated with different {name} ({a} vs {b}); refusing to compare")
    for tb, tc in zip(base.tasks, ckpt.tasks):
        if (tb.task, tb.task_hash) != (tc.task, tc.task_hash):
            raise DataError(f"task {tb.task} differs between base and checkpoint runs (content hash mismatch)")


def paired_change(base: np.ndarray, ckpt: np.ndarray):
    """Δ = ckpt − base in points with its 95% interval (`stats.paired`: Tango's score interval for 0/1
    metrics, paired t for graded ones), and the test of Δ = 0 (exact McNemar, or paired t)."""
    drop = task_drop(base, ckpt)
    return to_points(drop.interval(LEVEL), drop.estimate, LEVEL, sign=-1.0), drop


def compare_task(base: TaskResult, ckpt: TaskResult) -> tuple[TaskComparison, float]:
    """Paired statistics of one task, and the p-value of its test of no change (adjusted by `compare`)."""
    b, c = pair(base, ckpt)
    ci, drop = paired_change(b, c)
    binary = isinstance(drop, BinaryDrop)
    chance = base.chance
    adjust = (lambda s: 100 * chance_adjusted(s / 100, chance)) if chance is not None else None
    bs, cs = 100 * float(b.mean()), 100 * float(c.mean())
    comparison = TaskComparison(
        task=base.task,
        member=base.member,
        metric=base.metric,
        n_items=len(b),
        base=bs,
        ckpt=cs,
        delta=cs - bs + 0.0,
        delta_low=ci.low,
        delta_high=ci.high,
        p_value=drop.p_zero() if binary else None,
        p_adjusted=None,
        forgotten=drop.lost if isinstance(drop, BinaryDrop) else None,
        gained=drop.won if isinstance(drop, BinaryDrop) else None,
        chance=chance,
        base_adjusted=adjust(bs) if adjust else None,
        ckpt_adjusted=adjust(cs) if adjust else None,
        task_hash=base.task_hash,
    )
    return comparison, drop.p_zero()


def compare(base: EvalResult, ckpt: EvalResult, settings: tuple[str, ...] = SHARED_SETTINGS) -> Retention:
    """Per-task comparisons (significance Holm-adjusted across the tasks) and the aggregate forgetting
    of `ckpt` relative to `base` (whose `settings` must agree)."""
    check_comparable(base, ckpt, settings)
    compared = [compare_task(tb, tc) for tb, tc in zip(base.tasks, ckpt.tasks)]
    adjusted = holm([p for _, p in compared])
    tasks = tuple(replace(t, p_adjusted=p) for (t, _), p in zip(compared, adjusted))
    pairs = [pair(tb, tc) for tb, tc in zip(base.tasks, ckpt.tasks)]
    agg = forgetting(pairs)
    f = to_points(agg.interval(LEVEL), agg.estimate, LEVEL)
    n = sum(t.n_items for t in tasks)
    mean_base = float(np.mean([t.base for t in tasks]))
    return Retention(
        tasks=tasks,
        forgetting=f.estimate,
        forgetting_low=f.low,
        forgetting_high=f.high,
        forgetting_weighted=float(sum(t.n_items * (t.base - t.ckpt) for t in tasks) / n),
        retention_ratio=float(np.mean([t.ckpt for t in tasks]) / mean_base) if mean_base > 0 else float("nan"),
        n_items=n,
    )
