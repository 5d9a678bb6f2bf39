"""A sweep's trajectory: one row per checkpoint of a training run (step, forgetting F with its CI, the
headline KL with its CI, the new-task gain with its CI), as a CSV, a Markdown table and a plot (F and
KL against step; F against KL)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from forgetbench.core.errors import DataError
from forgetbench.core.fs import write_figure
from forgetbench.core.results import ScoreReport
from forgetbench.core.text import md_text

NAN = float("nan")


@dataclass(frozen=True)
class Point:
    """One checkpoint of a trajectory (NaN where the report has no value: no new-task metric)."""

    checkpoint: str
    step: int | None
    forgetting: float
    forgetting_low: float
    forgetting_high: float
    kl: float
    kl_low: float
    kl_high: float
    new_task_gain: float
    new_task_gain_low: float
    new_task_gain_high: float
    verdict: str
    """The report's verdict, its first clause (e.g. `No significant forgetting`)."""
    folder: str


def point(name: str, step: int | None, folder: str, r: ScoreReport) -> Point:
    """A sweep's score report as a trajectory point (a score report always has a KL)."""
    if r.kl is None:
        raise DataError(f"{folder}: a report without KL (a comparison of lm-eval logs) is not a sweep point")
    ret, head, new = r.retention, r.kl.headline_estimate, r.new_task_score
    gain = (new.gain, new.gain_low, new.gain_high) if new else (NAN, NAN, NAN)
    return Point(name, step, ret.forgetting, ret.forgetting_low, ret.forgetting_high, head.mean, head.ci_low, head.ci_high,
                 *gain, r.verdict.split(" (")[0].rstrip("."), folder)  # fmt: skip


def to_csv(points: list[Point]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, [f.name for f in fields(Point)], lineterminator="\n")
    writer.writeheader()
    for p in points:
        writer.writerow({k: ("" if v is None else v) for k, v in asdict(p).items()})
    return buf.getvalue().encode()


def ci_text(mean: float, low: float, high: float, digits: int) -> str:
    """`mean [low, high]` to `digits` places; `–` for a missing value (NaN)."""
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def to_markdown(points: list[Point]) -> str:
    lines = [
        "| checkpoint | step | forgetting F [95% CI] | KL [95% CI] | new-task gain [95% CI] | verdict |",
        "|---|---:|---|---|---|---|",
    ]
    for p in points:
        step = "" if p.step is None else str(p.step)
        lines.append(
            f"| {md_text(p.checkpoint)} | {step} | {ci_text(p.forgetting, p.forgetting_low, p.forgetting_high, 2)} | "
            f"{ci_text(p.kl, p.kl_low, p.kl_high, 3)} | {ci_text(p.new_task_gain, p.new_task_gain_low, p.new_task_gain_high, 2)} | "
            f"{md_text(p.verdict)} |"
        )
    return "\n".join(lines) + "\n"


def _errors(mean: list[float], low: list[float], high: list[float]):
    import numpy as np

    m = np.asarray(mean, dtype=float)
    return m, np.abs(np.stack([m - np.asarray(low, dtype=float), np.asarray(high, dtype=float) - m]))


def plot(points: list[Point], out: Path) -> list[Path]:
    """OUT.png and OUT.svg: forgetting and KL against step (left; position when steps are unknown), and
    forgetting against KL (right), each with its 95% CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [p.step if p.step is not None else i for i, p in enumerate(points)]
    f, ferr = _errors([p.forgetting for p in points], [p.forgetting_low for p in points], [p.forgetting_high for p in points])
    k, kerr = _errors([p.kl for p in points], [p.kl_low for p in points], [p.kl_high for p in points])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=150)
    left.errorbar(x, f, yerr=ferr, fmt="o-", capsize=3, color="C0", label="forgetting F")
    left.set_xlabel("training step" if all(p.step is not None for p in points) else "checkpoint")
    left.set_ylabel("forgetting F (points)", color="C0")
    left.axhline(0, color="grey", lw=0.5)
    twin = left.twinx()
    twin.errorbar(x, k, yerr=kerr, fmt="s--", capsize=3, color="C1", label="KL")
    twin.set_ylabel("KL(base ‖ ckpt) (nats / sequence)", color="C1")
    left.set_title("forgetting and KL along the run")
    right.errorbar(k, f, xerr=kerr, yerr=ferr, fmt="o", capsize=3, color="C2")
    for p, xi, yi in zip(points, k, f):
        right.annotate(p.checkpoint.removeprefix("checkpoint-"), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    right.axhline(0, color="grey", lw=0.5)
    right.set_xlabel("KL(base ‖ ckpt) (nats / sequence)")
    right.set_ylabel("forgetting F (points)")
    right.set_title("forgetting against KL")
    fig.tight_layout()
    try:
        return write_figure(fig, out, "sweep folder")
    finally:
        plt.close(fig)
