"""The Typer application and its command groups (commands register themselves on import)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="What did this fine-tune cost the model? Retention on prior benchmarks vs KL on the new task.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="Embedded real models that ship on PyPI.", no_args_is_help=True)
board_app = typer.Typer(help="Leaderboard CSVs: add runs, fit the forgetting-vs-KL law, plot, render.", no_args_is_help=True)
