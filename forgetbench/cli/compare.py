"""`forgetbench compare`: retention from two existing `lm_eval --log_samples` runs (no model is loaded)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Optional

import typer

from forgetbench.cli import options as o
from forgetbench.cli.app import app
from forgetbench.cli.jobs import show_outcome
from forgetbench.core.errors import UserInputError

LOGS = (
    o.arg(
        "base_output",
        "What `lm_eval --output_path DIR --log_samples` wrote for the base: DIR, its model folder, or a results_<date>.json.",
    ),
    o.arg("ckpt_output", "The same for the checkpoint."),
)
COMPARE = (
    o.Opt("tasks", Annotated[Optional[str], typer.Option(help="Compare only these tasks (comma-separated) \\[default: all; both runs must have them].")], None),
    o.Opt("metric", Annotated[Optional[list[str]], typer.Option(help="TASK=METRIC: the metric to pair on \\[default: the task's first logged metric]. Repeatable.")], None),
    o.Opt("run", Annotated[Optional[str], typer.Option(help="Read the run whose date starts with this, on the side(s) that have one \\[default: each side's newest].")], None),
    o.Opt("kl", Annotated[Optional[Path], typer.Option(help="A `forgetbench kl` (or `score`) run folder of the same pair: its KL joins the report.")], None),
)  # fmt: skip
GATE = (
    o.Opt(
        "gate",
        Annotated[Optional[Path], typer.Option(help="Release policy (TOML): decide at the end; exit 0 pass, 1 fail.")],
        None,
    ),
    *o.JUNIT,
)


def _metrics(values: list[str] | None) -> dict[str, str]:
    out = {}
    for v in values or []:
        task, sep, metric = v.partition("=")
        if not sep or not task.strip() or not metric.strip():
            raise UserInputError(f"--metric {v!r}: expected TASK=METRIC")
        out[task.strip()] = metric.strip()
    return out


@o.command(app, "compare", LOGS, COMPARE, o.OUT, GATE, o.JSON, panel=o.RUN)
def compare_cmd(a: SimpleNamespace) -> None:
    """Retention from lm-eval runs you already have (--log_samples output of both models), paired as `score` pairs them."""
    from forgetbench.core.config import CompareConfig
    from forgetbench.pipeline.compare import compare

    config = CompareConfig(
        a.base_output,
        a.ckpt_output,
        o.split_list(a.tasks) if a.tasks else None,
        _metrics(a.metric),
        a.run,
        str(a.kl) if a.kl else None,
    )
    show_outcome(compare(config, out=a.out, gate=a.gate, junit=a.junit), a.as_json)
