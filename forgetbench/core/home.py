"""Where forgetbench keeps its files: `$FORGETBENCH_HOME`, else `$XDG_CACHE_HOME/forgetbench`,
else `~/.cache/forgetbench`. Holds `models/` (materialised models), `store/` (results), `digests/` (file digest cache) and `logs/` (kept logs of failed engines)."""

from __future__ import annotations

import os
from pathlib import Path


def forgetbench_home() -> Path:
    """The root folder for forgetbench's cached files (not created here)."""
    if os.environ.get("FORGETBENCH_HOME"):
        return Path(os.environ["FORGETBENCH_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "forgetbench"


def default_store_dir() -> Path:
    """Default results store: `<home>/store`."""
    return forgetbench_home() / "store"


def models_dir() -> Path:
    """Where embedded and GGUF-converted models are materialised: `<home>/models`."""
    return forgetbench_home() / "models"
