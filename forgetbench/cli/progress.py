"""Progress on stderr: rich bars on a terminal, plain periodic lines in logs and pipes (library code
only sees `Reporter`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from forgetbench.core.errors import Interrupted
from forgetbench.core.progress import Reporter

INTERRUPTED = "interrupted; finished tasks are kept in the store"
_pending: list[int] = []


def interrupt(signum: int) -> None:
    """Ctrl-C: raise `Interrupted` here (the signal handler) and at every later progress update. A signal that
    lands inside a `__del__` or a C callback has its exception printed and dropped by Python; the next update
    raises it again, so the run still stops with exit 130."""
    _pending.append(signum)
    raise Interrupted(INTERRUPTED)


def _check() -> None:
    if _pending:
        raise Interrupted(INTERRUPTED)


class RichReporter(Reporter):
    """Messages and progress bars on a (stderr) console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None

    def message(self, text: str) -> None:
        _check()
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

        def advance(n: int) -> None:
            _check()
            progress.advance(task, n)

        return advance

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class LineReporter(Reporter):
    """Progress as plain lines, for logs and pipes (a rich bar draws nothing there): a line when a step
    starts, then at most one every `every_s` seconds, and one when it completes."""

    def __init__(self, console: Console, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.every_s, self.clock = console, every_s, clock

    def message(self, text: str) -> None:
        _check()
        self.console.print(f"forgetbench: {text}")

    def step(self, description: str, total: int) -> Callable[[int], None]:
        start = last = self.clock()
        done = 0
        self.console.print(f"forgetbench: {description}: 0/{total}")

        def advance(n: int) -> None:
            nonlocal done, last
            _check()
            done += n
            now = self.clock()
            if done >= total or now - last >= self.every_s:
                last = now
                rate = f", {(now - start) / done:.1f} s each" if done else ""
                self.console.print(f"forgetbench: {description}: {done}/{total} ({now - start:.0f} s{rate})")

        return advance


def reporter_for(console: Console) -> Reporter:
    """Bars on a terminal, plain periodic lines in a log or a pipe."""
    return RichReporter(console) if console.is_terminal else LineReporter(console)
