"""Provenance recorded in reports: library versions and forgetbench's git commit."""

from __future__ import annotations

import datetime
import platform
import subprocess
from pathlib import Path
from typing import Any


def versions() -> dict[str, str]:
    """Versions of python and the libraries that change results."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "lm_eval", "numpy", "pandas", "datasets"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    """forgetbench's git commit when it runs from a checkout, else None (silently)."""
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """The fields every report opens with: schema and tool versions, creation time, git commit, library versions."""
    from forgetbench import __version__
    from forgetbench.core.results import SCHEMA_VERSION

    return {
        "schema_version": SCHEMA_VERSION,
        "forgetbench_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "versions": versions(),
    }
