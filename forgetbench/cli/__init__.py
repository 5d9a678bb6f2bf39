"""The `forgetbench` command: thin Typer commands (parse, build a config, call one library function,
render, exit), split by group — `jobs` (eval, kl, score, demo), `compare`, `sweep`, `gate`, `board` (leaderboard),
`catalog` (suites, models) — over one table of options (`options`). Heavy libraries are imported
inside commands, so `forgetbench --help` is instant. Every error prints one line and exits with its
code (0 ok, 1 gate failed, 2 usage or input, 3 runtime, 130 interrupted)."""

from __future__ import annotations

import os
import sys

from forgetbench.cli.app import app, board_app, models_app
from forgetbench.cli.progress import interrupt
from forgetbench.core.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, ForgetbenchError

__all__ = ["app", "main"]


def _register() -> None:
    """Import the command modules in --help order (each registers its commands), then the groups."""
    from forgetbench.cli import jobs, compare, sweep, gate, catalog, board, view  # noqa: F401, I001  (order is --help order)

    app.add_typer(board_app, name="leaderboard", rich_help_panel="Decide and publish (no model loaded)")
    app.add_typer(models_app, name="models", rich_help_panel="Look up")


_register()


def _interrupt(signum, frame) -> None:
    # A plain exception, not KeyboardInterrupt: the CLI framework would turn that into exit 1.
    interrupt(signum)


def _click_errors(name: str) -> tuple[type[BaseException], ...]:
    """Click's exception class `name`, and typer's vendored copy of it (typer ≥ 0.25 ships its own click)."""
    import importlib

    found = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def _run() -> int:
    """Run the app without click's standalone handling, so every error is ours to print as one line."""
    try:
        result = app(standalone_mode=False)
    except _click_errors("NoArgsIsHelpError") as exc:
        ctx = getattr(exc, "ctx", None)
        print(ctx.get_help() if ctx else "", file=sys.stderr)
        return EXIT_USAGE
    except _click_errors("UsageError") as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx else ""
        print(f"forgetbench: error: {exc.format_message()}{hint}", file=sys.stderr)  # type: ignore[attr-defined]
        return EXIT_USAGE
    except _click_errors("Abort"):
        return EXIT_INTERRUPTED
    except _click_errors("Exit") as exc:
        return int(getattr(exc, "exit_code", 0))
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console entry point: maps errors to one line and the documented exit codes."""
    import signal

    signal.signal(signal.SIGINT, _interrupt)
    try:
        code = _run()
    except ForgetbenchError as exc:
        print(f"forgetbench: error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except Exception as exc:  # a bug or an unexpected library failure: runtime error, exit 3
        if os.environ.get("FORGETBENCH_DEBUG"):
            raise
        print(f"forgetbench: error: {type(exc).__name__}: {exc} (set FORGETBENCH_DEBUG=1 for the traceback)", file=sys.stderr)
        code = EXIT_RUNTIME
    sys.exit(code)
