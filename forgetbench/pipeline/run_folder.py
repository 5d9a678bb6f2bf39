"""Run folders (the layout in `docs/architecture.md`): every file written atomically, typed JSON through
`core.results_io`."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from forgetbench.core.errors import UserInputError
from forgetbench.core.fs import atomic_write_bytes, os_reason, probe_folder
from forgetbench.core.results_io import seal, to_json

if TYPE_CHECKING:
    from forgetbench.core.results import EvalResult, KLResult, ScoreReport
    from forgetbench.kl.run import KLRun


@dataclass(frozen=True)
class ScoreRun:
    """A score report and the rows behind it (what a score run folder holds)."""

    report: ScoreReport
    base_eval: EvalResult
    ckpt_eval: EvalResult
    kl: KLRun | None
    """None for a `compare` of lm-eval logs without `--kl` (the folder then has no kl.parquet)."""


def default_folder(kind: str) -> Path:
    """`runs/<kind>-<UTC time>/` under the working directory."""
    return Path("runs") / time.strftime(f"{kind}-%Y%m%d-%H%M%S", time.gmtime())


def prepare(folder: Path) -> Path:
    """Create the run folder (before any compute, so an unusable path fails first): exit 2 when it
    cannot be created or written."""
    folder = Path(folder)
    try:
        probe_folder(folder)
    except OSError as exc:
        raise UserInputError(f"run folder {folder}: cannot write there ({os_reason(exc)})") from None
    return folder


def _parquet(rows: list[dict]) -> bytes:
    import pandas as pd

    return pd.DataFrame(rows).to_parquet(index=False)


def write_kl(run: KLRun, folder: Path) -> KLResult:
    """`kl.parquet` (one row per prompt × sample), then `kl.json` (the typed result, sealed with the
    parquet's hash); returns the sealed result."""
    rows = _parquet(run.rows)
    result = seal(run.result, {"kl.parquet": rows})
    atomic_write_bytes(folder / "kl.parquet", rows)
    atomic_write_bytes(folder / "kl.json", to_json(result))
    return result


def item_rows(run: ScoreRun) -> list[dict]:
    """One row per paired benchmark item: task, doc_id, doc_hash, base and ckpt scores."""
    from forgetbench.prior.retention import pair

    rows = []
    for tb, tc in zip(run.base_eval.tasks, run.ckpt_eval.tasks):
        b, c = pair(tb, tc)
        for item, sb, sc in zip(sorted(tb.items, key=lambda i: i.doc_id), b, c):
            rows.append({"task": tb.task, "doc_id": item.doc_id, "doc_hash": item.doc_hash, "base": sb, "ckpt": sc})
    return rows


def write_score(run: ScoreRun, folder: Path) -> ScoreReport:
    """items.parquet, kl.parquet (when there is a KL), leaderboard_row.csv, report.md and, last,
    report.json (sealed with the parquets' hashes and its own digest); returns the sealed report."""
    import pandas as pd

    from forgetbench.leaderboard.table import row
    from forgetbench.report.markdown import markdown

    rows = {"items.parquet": _parquet(item_rows(run))}
    if run.kl is not None:
        rows["kl.parquet"] = _parquet(run.kl.rows)
    report = seal(run.report, rows)
    for name, data in rows.items():
        atomic_write_bytes(folder / name, data)
    buf = io.StringIO()
    pd.DataFrame([row(report)]).to_csv(buf, index=False)
    atomic_write_bytes(folder / "leaderboard_row.csv", buf.getvalue().encode())
    atomic_write_bytes(folder / "report.md", markdown(report).encode())
    atomic_write_bytes(folder / "report.json", to_json(report))
    return report
