"""The one-sentence verdict of a score report: how much was forgotten (and where, significantly), at
what KL, for what gain on the new task."""

from __future__ import annotations

from forgetbench.core.results import Estimate, NewTaskScore, Retention
from forgetbench.stats.paired import min_one_way_flips

SMALL_TASK_POINTS = 25.0
"""A task whose smallest detectable drop is at least this many points gets a warning."""


def small_task_warnings(ret: Retention, alpha: float = 0.05) -> tuple[str, ...]:
    """One sentence per 0/1 task too small for its test to see a real drop: the smallest drop that can
    be significant (that many items lost, none gained), or that none can."""
    k = min_one_way_flips(alpha)
    out = []
    for t in ret.tasks:
        if t.forgotten is None:
            continue
        if t.n_items < k:
            out.append(f"{t.task} has only {t.n_items} items: no drop can be significant (exact McNemar needs at least "
                       f"{k} items lost and none gained)")  # fmt: skip
        elif 100.0 * k / t.n_items >= SMALL_TASK_POINTS:
            out.append(f"{t.task} has only {t.n_items} items: the smallest drop that can be significant is "
                       f"{100.0 * k / t.n_items:.0f} points ({k} items lost, none gained)")  # fmt: skip
    return tuple(out)


def verdict(ret: Retention, kl: Estimate, new: NewTaskScore | None) -> str:
    """One sentence for a person (stored in the report as `verdict`)."""
    dropped = [t.task for t in ret.tasks if t.delta_high < 0]
    gained = [t.task for t in ret.tasks if t.delta_low > 0]
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
    parts.append(f"forward KL {kl.mean:.3g} nats/sequence [{kl.ci_low:.3g}, {kl.ci_high:.3g}]")
    if new is not None:
        parts.append(f"new task {new.task} {new.gain:+.1f} points [{new.gain_low:+.1f}, {new.gain_high:+.1f}]")
    return "; ".join(parts) + "."
