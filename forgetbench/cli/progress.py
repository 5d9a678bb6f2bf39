"""Progress on the terminal: rich bars and messages on stderr (library code only sees `Reporter`)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from forgetbench.core.progress import Reporter


class RichReporter(Reporter):
    """Messages and progress bars on a (stderr) console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None

    def message(self, text: str) -> None:
        self.close()
        self.console.print(f"[dim]forgetbench:[/dim] {text}")

    def step(self, description: str, total: int) -> Callable[[int], None]:
        self.close()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        task = self.progress.add_task(description, total=total)
        progress = self.progress
        return lambda n: progress.advance(task, n)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
