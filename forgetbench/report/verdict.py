"""The one-sentence verdict of a score report: how much was forgotten (and where, significantly), at
what KL, for what gain on the new task."""

from __future__ import annotations

from forgetbench.core.results import Estimate, KLResult, NewTaskScore, Retention, TaskComparison
from forgetbench.stats.paired import min_one_way_flips

ALPHA = 0.05
"""Level at which the report calls a change significant."""
SMALL_TASK_POINTS = 25.0
"""A task whose smallest detectable drop is at least this many points gets a warning."""


def significant(t: TaskComparison, alpha: float = ALPHA) -> bool:
    """The one meaning of "significant" for a task's change, shared by the verdict, the tables and the
    report: its test of no change (exact McNemar for 0/1 metrics, paired t for graded), Holm-adjusted
    across the suite's tasks, at `alpha`."""
    return t.p_adjusted is not None and t.p_adjusted <= alpha


def small_task_warnings(ret: Retention, alpha: float = ALPHA) -> tuple[str, ...]:
    """One sentence per 0/1 task too small for its test to see a real drop: the smallest drop that can
    be significant (that many items lost, none gained, at Holm's first step α / tasks), or that none can."""
    m = max(1, len(ret.tasks))
    k = min_one_way_flips(alpha / m)
    test = f"exact McNemar, Holm across {m} tasks," if m > 1 else "exact McNemar"
    out = []
    for t in ret.tasks:
        if t.forgotten is None:
            continue
        if t.n_items < k:
            out.append(f"{t.task} has only {t.n_items} items: no drop can be significant ({test} needs at least "
                       f"{k} items lost and none gained)")  # fmt: skip
        elif 100.0 * k / t.n_items >= SMALL_TASK_POINTS:
            out.append(f"{t.task} has only {t.n_items} items: the smallest drop that can be significant is "
                       f"{100.0 * k / t.n_items:.0f} points ({k} items lost, none gained)")  # fmt: skip
    return tuple(out)


def graded_warnings(ret: Retention) -> tuple[str, ...]:
    """One sentence per task whose metric is not 0/1 on every item: its change is tested with the paired
    t test (the continuous-metric method), not McNemar, and it has no flips."""
    return tuple(f"{t.task}: {t.metric} is not 0/1 on every item, so its change is tested with the paired t test "
                 "(the continuous-metric method), not exact McNemar" for t in ret.tasks if t.forgotten is None)  # fmt: skip


def report_warnings(ret: Retention, kl: KLResult | None) -> tuple[str, ...]:
    """A report's warnings: the KL's template difference (when there is a KL), tasks too small to see a
    drop, tasks tested as graded."""
    return (template_warnings(kl) if kl else ()) + small_task_warnings(ret) + graded_warnings(ret)


def unresolved_floor(kl: KLResult) -> Estimate | None:
    """The precision floor when the headline KL is not resolvable at the run's dtype, else None."""
    return kl.precision_floor if kl.precision_resolvable is False else None


def template_warnings(kl: KLResult) -> tuple[str, ...]:
    """The models' chat-template or stop-token difference, when the KL was measured anyway."""
    if kl.template_mismatch is None:
        return ()
    return (f"{kl.template_mismatch}, measured anyway (--allow-template-mismatch): forward and reverse KL of this "
            "pair see different prompts or stop rules",)  # fmt: skip


def verdict(ret: Retention, kl: Estimate | None, new: NewTaskScore | None, unresolved: Estimate | None = None) -> str:
    """One sentence for a person (stored in the report as `verdict`). `kl`: None when the run has no KL (a
    comparison of lm-eval logs). `unresolved`: the precision floor when the KL is within it
    (`KLResult.precision_resolvable` False; `unresolved_floor`), else None."""
    dropped = [t.task for t in ret.tasks if significant(t) and t.delta < 0]
    gained = [t.task for t in ret.tasks if significant(t) and t.delta > 0]
    if ret.forgetting_low > 0:
        head = f"Forgot {ret.forgetting:.1f} points on average (95% CI {ret.forgetting_low:.1f} to {ret.forgetting_high:.1f})"
    elif ret.forgetting_high < 0:
        head = (
            f"Improved {-ret.forgetting:.1f} points on average (95% CI {-ret.forgetting_high:.1f} to {-ret.forgetting_low:.1f})"
        )
    else:
        head = f"No significant forgetting ({ret.forgetting:+.1f} points, 95% CI {ret.forgetting_low:.1f} to {ret.forgetting_high:.1f})"
    parts = [f"{head} over {len(ret.tasks)} tasks"]
    if dropped:
        parts.append(f"significant drops on {', '.join(dropped)}")
    if gained:
        parts.append(f"significant gains on {', '.join(gained)}")
    if kl is None:
        parts.append("no KL measured (lm-eval logs only; --kl joins a KL run)")
    else:
        parts.append(
            f"forward KL {kl.mean:.3g} nats/sequence [{kl.ci_low:.3g}, {kl.ci_high:.3g}]"
            + ("" if unresolved is None else f", not resolvable at this precision (precision floor {unresolved.mean:.3g})")
        )
    if new is not None:
        parts.append(f"new task {new.task} {new.gain:+.1f} points [{new.gain_low:+.1f}, {new.gain_high:+.1f}]")
    return "; ".join(parts) + "."
