"""Progress in a log (not a terminal): plain lines when a step starts, at most one per interval, and one at the end."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from forgetbench.cli.progress import LineReporter, RichReporter, reporter_for


def test_a_log_gets_periodic_plain_lines():
    out = io.StringIO()
    now = [0.0]
    reporter = LineReporter(Console(file=out, force_terminal=False, width=200), every_s=10.0, clock=lambda: now[0])
    advance = reporter.step("fine-tuning", 20)
    for _ in range(20):
        now[0] += 1.0
        advance(1)
    lines = out.getvalue().splitlines()
    assert lines == [
        "forgetbench: fine-tuning: 0/20",
        "forgetbench: fine-tuning: 10/20 (10 s, 1.0 s each)",
        "forgetbench: fine-tuning: 20/20 (20 s, 1.0 s each)",
    ]


def test_a_terminal_gets_bars_and_a_pipe_gets_lines():
    assert isinstance(reporter_for(Console(file=io.StringIO(), force_terminal=True)), RichReporter)
    assert isinstance(reporter_for(Console(file=io.StringIO(), force_terminal=False)), LineReporter)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped exception, on purpose
def test_an_interrupt_whose_exception_python_dropped_stops_the_run_at_the_next_update(monkeypatch):
    """A Ctrl-C that lands in a `__del__` has its exception printed and dropped by Python (seen under load in
    test_interrupt_exits_130...): every later progress update or message raises it again."""
    from forgetbench.cli import progress
    from forgetbench.core.errors import Interrupted

    monkeypatch.setattr(progress, "_pending", [])
    reporter = progress.LineReporter(Console(file=io.StringIO()))
    advance = reporter.step("scoring", 10)
    advance(1)  # no interrupt yet: nothing raised

    class Dropped:
        def __del__(self):
            progress.interrupt(2)  # the handler raises here, where Python can only print and drop it

    Dropped()
    with pytest.raises(Interrupted, match="interrupted; finished tasks are kept in the store"):
        advance(1)
    with pytest.raises(Interrupted):
        reporter.message("next")
