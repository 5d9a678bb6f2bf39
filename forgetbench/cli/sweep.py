"""`forgetbench sweep`: every checkpoint of a training run against one base (`pipeline.sweep`)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Optional

import typer

from forgetbench.cli import console as c
from forgetbench.cli import options as o
from forgetbench.cli.app import app

MODELS = (
    o.Opt(
        "models",
        Annotated[
            Optional[list[str]],
            typer.Argument(
                help="BASE, then checkpoints: models (full weights or PEFT adapters) or training output folders "
                "(their checkpoint-* folders, by step).",
                metavar="BASE CKPT...",
                show_default=False,
            ),
        ],
        None,
    ),
)
SWEEP = (
    o.Opt(
        "new_task",
        Annotated[Optional[str], typer.Option(help="New task: a prompts file or an lm-eval task name.", show_default=False)],
        None,
    ),
    o.Opt("shard", Annotated[Optional[str], typer.Option(help="Run share I of N (0 ≤ I < N): checkpoints I, I+N, ...")], None),
    o.Opt(
        "collect",
        Annotated[Optional[Path], typer.Option(help="Assemble the trajectory of an existing sweep folder (no model runs).")],
        None,
    ),
    o.Opt(
        "to", Annotated[Optional[Path], typer.Option(help="Also upsert each checkpoint's leaderboard row into this CSV.")], None
    ),
)


@o.command(app, "sweep", MODELS, SWEEP, o.SUITE, o.KL, o.DIRECTION, o.RUNTIME, o.EXECUTOR, o.OUT, o.STORE, o.JSON, panel=o.RUN)
def sweep_cmd(a: SimpleNamespace) -> None:
    """Score every checkpoint of a training run against one base: run folders, a trajectory table and plot."""
    c.quiet_libraries()
    from forgetbench.cli.render import sweep_json, sweep_summary
    from forgetbench.core.config import ScoreConfig
    from forgetbench.core.errors import UserInputError
    from forgetbench.pipeline.sweep import collect, parse_shard, sweep

    if a.collect is not None:
        if a.models:
            raise UserInputError("--collect reads an existing sweep folder: give no models with it")
        outcome = collect(a.collect, to=a.to)
    else:
        if not a.models or len(a.models) < 2 or a.new_task is None:
            raise UserInputError("give BASE, at least one CKPT and --new-task (or --collect SWEEP_DIR)")
        config = ScoreConfig.build(a.models[0], a.models[0], a.new_task, suite=a.suite, limit=a.limit,
                                   allow_code_execution=a.allow_code_execution, runtime=o.runtime(a), **o.kl_options(a))  # fmt: skip
        shard = parse_shard(a.shard)
        outcome = sweep(config, a.models[1:], store=o.store_of(a), out=a.out, shard=shard, to=a.to, reporter=c.reporter(),
                        **o.executor_of(a))  # fmt: skip
    c.print_json(sweep_json(outcome)) if a.as_json else c.console().print(sweep_summary(outcome))
