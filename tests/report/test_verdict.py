"""The sentences a person reads: the warning for tasks too small for their test to see a drop."""

from __future__ import annotations

import numpy as np

from forgetbench.core.results import (
    SCHEMA_VERSION,
    Estimate,
    EvalResult,
    EvalSettings,
    ItemOutcome,
    ModelInfo,
    Retention,
    TaskComparison,
    TaskResult,
)
from forgetbench.gate.power import paired_items
from forgetbench.prior.retention import compare
from forgetbench.report.verdict import small_task_warnings, verdict
from forgetbench.stats.paired import mcnemar_exact, min_one_way_flips


def _task(name: str, n: int, graded: bool = False) -> TaskComparison:
    flips = None if graded else 0
    return TaskComparison(name, name, "acc", n, 50.0, 50.0, 0.0, 0.0, 0.0, None if graded else 1.0, 1.0, flips, flips,
                          None, None, None, "h")  # fmt: skip


def test_the_fewest_flips_mcnemar_can_call_significant():
    assert min_one_way_flips(0.05) == 6 and mcnemar_exact(6, 0) < 0.05 < mcnemar_exact(5, 0)
    assert min_one_way_flips(0.01) == 8


def test_tiny_tasks_are_named_with_the_smallest_detectable_drop():
    ret = Retention((_task("four", 4), _task("twenty", 20), _task("sixty", 60), _task("graded", 3, graded=True)),
                    0.0, 0.0, 0.0, 0.0, 1.0, 87)  # fmt: skip
    warnings = small_task_warnings(ret)
    assert warnings == (
        "four has only 4 items: no drop can be significant (exact McNemar, Holm across 4 tasks, needs at least 8 items "
        "lost and none gained)",
        "twenty has only 20 items: the smallest drop that can be significant is 40 points (8 items lost, none gained)",
    )


def test_a_kl_within_the_precision_floor_is_called_not_resolvable():
    ret = Retention((_task("sixty", 60),), 0.0, -1.0, 1.0, 0.0, 1.0, 60)
    kl = Estimate("full", 0.0706, 0.06, 0.08, 0.001)
    plain = verdict(ret, kl, None)
    assert "forward KL 0.0706 nats/sequence [0.06, 0.08]" in plain and "resolvable" not in plain
    flagged = verdict(ret, kl, None, Estimate("full", 0.075, 0.065, 0.086, 0.0012))
    assert "forward KL 0.0706 nats/sequence [0.06, 0.08], not resolvable at this precision (precision floor 0.075)" in flagged


def _eval(tasks: dict[str, np.ndarray]) -> EvalResult:
    settings = EvalSettings("hf", "float32", "cpu", None, 0, False, 1, {}, "0.4")
    results = tuple(
        TaskResult(
            name,
            name,
            "acc",
            float(scores.mean()),
            len(scores),
            0.5,
            "h",
            "k",
            False,
            tuple(ItemOutcome(name, i, str(i), float(s)) for i, s in enumerate(scores)),
        )
        for name, scores in tasks.items()
    )
    model = ModelInfo("m", "folder", "/m", "f" * 64, "t")
    return EvalResult(SCHEMA_VERSION, "0", model, "lite", settings, results, 0.0)


def test_the_verdict_names_a_significant_drop_in_at_most_five_percent_of_null_runs():
    """7 offline-lite tasks, 15% of items flip (half each way), no true drop: one truth for "significant"
    (exact McNemar, Holm across tasks) names a drop in ≤ 5% of runs (it was 12.8% with uncorrected
    percentile bootstrap intervals)."""
    rng, runs, named = np.random.default_rng(0), 400, 0
    sizes = (40, 40, 60, 60, 60, 60, 20)
    kl = Estimate("full", 1.0, 0.5, 1.5, 0.01)
    for _ in range(runs):
        base, ckpt = {}, {}
        for t, n in enumerate(sizes):
            b, c = paired_items(n, 0.0, 0.15, rng)
            base[f"t{t}"], ckpt[f"t{t}"] = b, c
        sentence = verdict(compare(_eval(base), _eval(ckpt)), kl, None)
        named += "significant drops on" in sentence
    assert named / runs <= 0.05
