"""`forgetbench gate`: decide a saved run against a policy."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import typer

from forgetbench.cli import console as c
from forgetbench.cli import options as o
from forgetbench.cli.app import app
from forgetbench.core.errors import EXIT_GATE_FAILED

RUN = (
    o.Opt(
        "run",
        Annotated[
            Path,
            typer.Argument(
                help="A run folder written by `score` (or `score --gate` with a KL-only policy, or `kl`), or its report.json.",
                metavar="RUN",
                show_default=False,
            ),
        ],
    ),
)
POLICY = (o.Opt("policy", Annotated[Path, typer.Option(help="Release policy (TOML).", show_default=False)]),)


@o.command(app, "gate", RUN, POLICY, o.JUNIT, o.JSON, panel=o.DECIDE)
def gate_cmd(a: SimpleNamespace) -> None:
    """Decide a release from a saved run and a policy, with no model loaded: exit 0 pass, 1 fail."""
    from forgetbench.cli.render import gate_table
    from forgetbench.pipeline.gate import gate_run

    verdict = gate_run(a.run, a.policy, junit=a.junit)
    c.print_json(verdict.to_dict()) if a.as_json else c.console().print(gate_table(verdict))
    c.exit_with(0 if verdict.passed else EXIT_GATE_FAILED)
