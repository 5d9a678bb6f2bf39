"""Consoles, library noise, and the exit: shared by every command."""

from __future__ import annotations

import os
from typing import Any

import typer


def console(stderr: bool = False) -> Any:
    """A rich console whose lines stay whole when piped or logged."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def reporter() -> Any:
    """Progress on stderr: bars on a terminal, plain periodic lines in a log."""
    from forgetbench.cli.progress import reporter_for

    return reporter_for(console(stderr=True))


def quiet_libraries() -> None:
    """Keep lm-eval's, transformers' and datasets' logging to errors, and their tqdm bars off (forgetbench
    reports progress itself: one system, not two interleaved). Python warnings are left alone: none is
    filtered process-wide (a forgetbench run on the supported versions raises none)."""
    import logging

    os.environ.setdefault("TQDM_DISABLE", "1")  # read when tqdm is imported, which has not happened yet
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    for name in ("lm_eval", "lm-eval", "transformers", "datasets", "httpx", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


def print_json(data: Any) -> None:
    """One JSON document on stdout (strict JSON: NaN and ±inf as null)."""
    from forgetbench.core.results_io import dumps

    print(dumps(data))


def exit_with(code: int) -> None:
    """Leave the command with `code` (0 returns normally)."""
    if code:
        raise typer.Exit(code)
