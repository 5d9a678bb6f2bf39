"""`forgetbench view`: print a run's report.html and open it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import typer

from forgetbench.cli import console as c
from forgetbench.cli import options as o
from forgetbench.cli.app import app

VIEW = (
    o.Opt(
        "run",
        Annotated[
            Path,
            typer.Argument(
                help="A run folder (score, compare, kl or sweep), or its report.html.", metavar="RUN", show_default=False
            ),
        ],
    ),
    o.Opt(
        "open", Annotated[bool, typer.Option("--open/--no-open", help="Open the page in a browser when one can show it.")], True
    ),
)


@o.command(app, "view", VIEW, panel="Look up")
def view_cmd(a: SimpleNamespace) -> None:
    """Print the path of a run's drill-down page (report.html) and open it in a browser when there is one."""
    from forgetbench.pipeline.view import open_page, report_page

    page = report_page(a.run)
    print(page.resolve())
    if a.open and not open_page(page):
        c.console(stderr=True).print("no browser to open it here (no display); copy the file or open it where there is one")
