"""The sentences a person reads: the warning for tasks too small for their test to see a drop."""

from __future__ import annotations

from forgetbench.core.results import Retention, TaskComparison
from forgetbench.report.verdict import small_task_warnings
from forgetbench.stats.paired import mcnemar_exact, min_one_way_flips


def _task(name: str, n: int, graded: bool = False) -> TaskComparison:
    flips = None if graded else 0
    return TaskComparison(name, name, "acc", n, 50.0, 50.0, 0.0, 0.0, 0.0, None if graded else 1.0, flips, flips,
                          None, None, None, "h")  # fmt: skip


def test_the_fewest_flips_mcnemar_can_call_significant():
    assert min_one_way_flips(0.05) == 6 and mcnemar_exact(6, 0) < 0.05 < mcnemar_exact(5, 0)
    assert min_one_way_flips(0.01) == 8


def test_tiny_tasks_are_named_with_the_smallest_detectable_drop():
    ret = Retention((_task("four", 4), _task("twenty", 20), _task("sixty", 60), _task("graded", 3, graded=True)),
                    0.0, 0.0, 0.0, 0.0, 1.0, 87)  # fmt: skip
    warnings = small_task_warnings(ret)
    assert warnings == (
        "four has only 4 items: no drop can be significant (exact McNemar needs at least 6 items lost and none gained)",
        "twenty has only 20 items: the smallest drop that can be significant is 30 points (6 items lost, none gained)",
    )
