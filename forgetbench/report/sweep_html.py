"""report.html of a sweep folder: the trajectory (forgetting and KL along the run, forgetting against KL)
and its table, each checkpoint linking to its own run's report.html."""

from __future__ import annotations

import math
from urllib.parse import quote

from forgetbench.report import svg
from forgetbench.report.page import esc, page, table
from forgetbench.report.trajectory import Point, ci_text
from forgetbench.runs.layout import PAGE, SWEEP, TRAJECTORY


def _href(p: Point) -> str:
    return quote(p.checkpoint) + "/" + PAGE


def render(name: str, points: list[Point], missing: list[str]) -> str:
    """The sweep's page (`name`: the sweep folder's name; `missing`: checkpoints without a finished run)."""
    steps = all(p.step is not None for p in points)
    x = [float(p.step) if p.step is not None else float(i) for i, p in enumerate(points)]
    xlabel = "training step" if steps else "checkpoint (in sweep order)"
    short = [p.checkpoint.removeprefix("checkpoint-") for p in points]
    f_step = [svg.Point(xi, p.forgetting, y_low=p.forgetting_low, y_high=p.forgetting_high, label=s, href=_href(p))
              for xi, p, s in zip(x, points, short)]  # fmt: skip
    kl_step = [
        svg.Point(xi, p.kl, y_low=p.kl_low, y_high=p.kl_high, label=s, href=_href(p)) for xi, p, s in zip(x, points, short)
    ]
    f_kl = [svg.Point(p.kl, p.forgetting, p.kl_low, p.kl_high, p.forgetting_low, p.forgetting_high, s, _href(p))
            for p, s in zip(points, short)]  # fmt: skip
    rows = [[f'<a href="{esc(_href(p))}">{esc(p.checkpoint)}</a>', "" if p.step is None else str(p.step),
             ci_text(p.forgetting, p.forgetting_low, p.forgetting_high, 2), ci_text(p.kl, p.kl_low, p.kl_high, 3),
             ci_text(p.new_task_gain, p.new_task_gain_low, p.new_task_gain_high, 2), esc(p.verdict)] for p in points]  # fmt: skip
    gains = any(not math.isnan(p.new_task_gain) for p in points)
    head = [
        "checkpoint",
        "step",
        "forgetting F [95% CI]",
        "KL [95% CI]",
        "new-task gain [95% CI]" if gains else "new-task gain",
        "verdict",
    ]
    missing_note = f'<div class="warn">Not finished yet: {esc(", ".join(missing))}.</div>' if missing else ""
    body = (
        f"<h1>Sweep <code>{esc(name)}</code></h1>"
        f'<div class="verdict">{len(points)} checkpoints scored against one base; forgetting F in points (positive: forgot), '
        "KL(base ‖ checkpoint) in nats per sequence, each with its 95% CI. Click a point or a row for that checkpoint's report.</div>"
        + missing_note
        + "<h2>Trajectory</h2>"
        + '<div class="pair">'
        + svg.scatter(f_step, xlabel, "forgetting F (points)", line=True)
        + svg.scatter(kl_step, xlabel, "KL (nats / sequence)", line=True, colour="#c2410c")
        + "</div>"
        + svg.scatter(f_kl, "KL (nats / sequence)", "forgetting F (points)", colour="#137333")
        + table(head, rows, numeric=(1,))
    )
    return page(
        f"forgetbench sweep {name}",
        body,
        f"Files beside this page: {TRAJECTORY}.csv, {TRAJECTORY}.md, {TRAJECTORY}.png/svg, {SWEEP}.",
    )
