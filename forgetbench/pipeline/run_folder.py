"""A run's files made from what the job holds in memory: the rows of items.parquet (`item_rows`), the sealed
report, report.md, the leaderboard row and report.html (drawn by `report` from the same rows the folder
will hold), handed whole to `runs.RunFolder`, which owns the layout and writes them. A finished folder's
page is redrawn (the gate's verdict, or a folder from before pages) by reading it through `RunFolder`."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from forgetbench.core.errors import UserInputError
from forgetbench.core.rows import MAX_EVIDENCE, pair_row
from forgetbench.runs import REPORT_KINDS, RunFolder, layout, seal_kl, seal_score

if TYPE_CHECKING:
    from forgetbench.core.results import EvalResult, GateVerdict, KLResult, ScoreReport
    from forgetbench.kl.run import KLRun


@dataclass(frozen=True)
class ScoreRun:
    """A score report and the rows behind it (what a score run folder holds)."""

    report: ScoreReport
    base_eval: EvalResult
    ckpt_eval: EvalResult
    kl: KLRun | None
    """None for a `compare` of lm-eval logs without `--kl` (the folder then has no kl.parquet)."""


def kept_for_evidence(base: list[float], ckpt: list[float], limit: int = MAX_EVIDENCE) -> set[int]:
    """Positions of the items whose evidence is kept: per direction, the `limit` largest changes."""
    kept: set[int] = set()
    for sign in (-1, 1):  # forgotten (ckpt below base), then gained
        moved = sorted(
            (i for i, (b, c) in enumerate(zip(base, ckpt)) if (c - b) * sign > 0), key=lambda i: -abs(ckpt[i] - base[i])
        )
        kept.update(moved[:limit])
    return kept


def item_rows(run: ScoreRun) -> list[dict]:
    """One row per paired benchmark item: task, doc_id, doc_hash, base and ckpt scores, and for the items
    that changed (`kept_for_evidence`) the evidence of both models (`core.rows.pair_row`)."""
    from forgetbench.prior.retention import pair

    rows = []
    for tb, tc in zip(run.base_eval.tasks, run.ckpt_eval.tasks):
        b, c = pair(tb, tc)
        kept = kept_for_evidence(list(b), list(c))
        ckpt_items = {i.doc_id: i for i in tc.items}
        for n, (item, sb, sc) in enumerate(zip(sorted(tb.items, key=lambda i: i.doc_id), b, c)):
            ev = pair_row(item.evidence, ckpt_items[item.doc_id].evidence) if n in kept else pair_row(None, None)
            rows.append({"task": tb.task, "doc_id": item.doc_id, "doc_hash": item.doc_hash, "base": sb, "ckpt": sc, **ev})
    return rows


def side_rows(run: KLRun) -> dict[str, list[dict]]:
    """A KL run's rows beside kl.parquet, by file name."""
    return {layout.KL_OLD_ROWS: run.old_rows, layout.KL_REVERSE_ROWS: run.reverse_rows}


def write_kl(run: KLRun, folder: Path) -> KLResult:
    """A KL-only run folder (kl.parquet, kl.json sealed with its hash, report.html); the sealed result."""
    from forgetbench.report.html import render_kl

    sealed = seal_kl(run.result, run.rows, side_rows(run))
    RunFolder(folder).write_kl(sealed, page=render_kl(sealed.result, sealed.rows()).encode())
    return sealed.result


def write_score(run: ScoreRun, folder: Path) -> ScoreReport:
    """A score (or compare) run folder: the report sealed with its rows' hashes, written with its rows,
    report.md, the leaderboard row and report.html (drawn from the rows as the folder holds them, in
    memory); the sealed report."""
    import pandas as pd

    from forgetbench.leaderboard.table import row
    from forgetbench.report.html import RunView, render
    from forgetbench.report.markdown import markdown

    kl = run.kl
    sealed = seal_score(run.report, item_rows(run), kl.rows if kl is not None else None, side_rows(kl) if kl else None)
    report = sealed.report
    buf = io.StringIO()
    pd.DataFrame([row(report)]).to_csv(buf, index=False)
    page = render(RunView(report, *sealed.rows()))
    RunFolder(folder).write_score(
        sealed, leaderboard_row=buf.getvalue().encode(), markdown=markdown(report).encode(), page=page.encode()
    )
    return report


def page_of(folder: RunFolder, gate: GateVerdict | None = None) -> str:
    """report.html's text for a finished run folder (score, compare, gate-only or KL-only) from its report
    and rows, with the gate's verdict."""
    from forgetbench.report.html import RunView, render, render_kl

    kind = folder.kind
    items, kl_rows = folder.rows()
    if kind in REPORT_KINDS:
        return render(RunView(folder.report(verify=False), items, kl_rows, gate))
    if kind == "kl":
        return render_kl(folder.kl_result(verify=False), kl_rows, gate)
    raise UserInputError(f"{folder.path}: not a run folder with a report to draw (it holds a {kind or 'no'} run)")


def write_html(folder: Path, gate: GateVerdict | None = None) -> Path:
    """report.html redrawn in a finished run folder (with the gate's verdict when the run had one, or for a
    folder from before pages), written atomically (`RunFolder.write_page`: exit 3 naming the page on
    failure, the old page kept). Returns its path."""
    run = RunFolder(folder)
    return run.write_page(page_of(run, gate).encode())
