"""`forgetbench view RUN`: the run's report.html (written now when an older run folder has none), opened in
a browser when this machine has one to show it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from forgetbench.core.errors import UserInputError
from forgetbench.runs import REPORT_KINDS, RunFolder
from forgetbench.runs.layout import KL, PAGE, REPORT, SWEEP


def report_page(run: Path) -> Path:
    """The report.html of `run` (a score/compare/kl run folder, a sweep folder, or the page itself); a folder
    without one (made before forgetbench wrote pages) gets it from its saved files."""
    from forgetbench.pipeline.run_folder import write_html
    from forgetbench.pipeline.sweep import collect

    run = Path(run)
    folder = RunFolder(run)
    if run.is_file():
        if run.name == PAGE:
            return run
        raise UserInputError(f"{run}: a file; give a run folder or its {PAGE}")
    if not run.is_dir():
        raise UserInputError(f"{run}: no such run folder")
    if folder.has_page():
        return folder.page_file
    kind = folder.kind
    if kind in (*REPORT_KINDS, "kl"):
        return write_html(run)
    if kind == "sweep":
        collect(run)
        if folder.has_page():
            return folder.page_file
        raise UserInputError(f"{run}: no checkpoint of this sweep has finished yet; nothing to show")
    raise UserInputError(f"{run}: not a forgetbench run folder (no {REPORT}, {KL}, {SWEEP} or {PAGE})")


def can_show() -> bool:
    """Whether a graphical browser can open here: macOS, Windows, or a display on other systems (without
    one, Python's `webbrowser` would start a text browser in this terminal, or nothing)."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_page(page: Path) -> bool:
    """Open `page` in the default browser; False when there is none to open it."""
    import webbrowser

    if not can_show():
        return False
    try:
        return webbrowser.get().open(page.resolve().as_uri())
    except webbrowser.Error:
        return False
