"""`forgetbench gate`: decide a saved run against a policy."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Optional

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


PLAN = (
    o.Opt(
        "pilot", Annotated[Optional[Path], typer.Option(help="A run folder whose discordance and KL spread size the plan.")], None
    ),
    o.Opt(
        "discordance",
        Annotated[float, typer.Option(help="Share of items assumed to flip when nothing is lost (no pilot).")],
        0.15,
    ),
    o.Opt(
        "drop",
        Annotated[
            float,
            typer.Option(
                help="Points: for a rule whose limit is 0 or below (no drop can be shown within it), "
                "the items needed are those at which a drop this large is shown beyond the limit with 80% power."
            ),
        ],
        5.0,
    ),
)


@o.command(app, "plan", POLICY, o.SUITE[:1], PLAN, o.JSON, panel=o.DECIDE)
def plan_cmd(a: SimpleNamespace) -> None:
    """What a suite can decide under a policy, before running: per rule the smallest drop it can catch (80%
    power at α / rules, as `gate` fails) and the items needed to show no drop within its limit (80% power at
    α, as `gate` passes; a limit of 0 or below: to catch a `--drop`-point drop). Exact power under the data
    model: background flips d split evenly, a drop of δ points loses another δ% of the items."""
    c.quiet_libraries()
    from forgetbench.cli.render import plan_table
    from forgetbench.pipeline.plan import plan_suite

    plan = plan_suite(a.suite, a.policy, a.pilot, a.discordance, a.drop)
    c.print_json(plan.to_dict()) if a.as_json else c.console().print(plan_table(plan))
