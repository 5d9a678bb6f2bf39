"""Run folders (the layout in `docs/architecture.md`): each written whole into a temporary folder and moved
into place (`core.fs.write_folder`: a full disk leaves the folder as it was and names the file, exit 3),
typed JSON through `core.results_io`."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from forgetbench.core.errors import UserInputError, WriteError
from forgetbench.core.fs import atomic_write_bytes, os_reason, probe_folder, write_file, write_folder
from forgetbench.core.results_io import seal, to_json
from forgetbench.core.rows import MAX_EVIDENCE, pair_row

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


def default_folder(kind: str) -> Path:
    """`runs/<kind>-<UTC time>/` under the working directory."""
    return Path("runs") / time.strftime(f"{kind}-%Y%m%d-%H%M%S", time.gmtime())


RUN_FILES = ("items.parquet", "kl.parquet", "leaderboard_row.csv", "report.md", "report.json", "kl.json", "report.html")
"""The files a run folder holds: a rerun into the same folder replaces them all (one it does not write is
removed, so no older run's rows stay beside the new report); other files there are kept."""


SUMMARY = {"score": "report.json", "kl": "kl.json"}
"""The file that says what kind of run a folder holds: a score (or compare) report, or a KL-only result."""


def prepare(folder: Path, kind: Literal["score", "kl"] | None = None) -> Path:
    """Create the run folder (before any compute, so an unusable path fails first): exit 2 when it
    cannot be created or written, or when it holds a run of another `kind` (a rerun replaces a folder's run
    files, so a `kl` run into a `score` folder would remove its report). It stays empty until the run is
    written, whole (`write_folder`)."""
    folder = Path(folder)
    for other, summary in SUMMARY.items():
        if kind is not None and other != kind and (folder / summary).is_file() and not (folder / SUMMARY[kind]).is_file():
            raise UserInputError(
                f"run folder {folder} holds a {other} run ({summary}); a {kind} run there would replace its files: give another --out"
            )
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

    def build(tmp: Path) -> None:
        write_file(tmp / "kl.parquet", rows)
        write_file(tmp / "kl.json", to_json(result))
        write_file(tmp / "report.html", _page(tmp).encode())

    write_folder(folder, build, RUN_FILES)
    return result


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


def write_score(run: ScoreRun, folder: Path) -> ScoreReport:
    """items.parquet, kl.parquet (when there is a KL), leaderboard_row.csv, report.md, report.json (sealed
    with the parquets' hashes and its own digest) and, last, report.html (from the files just written);
    returns the sealed report."""
    import pandas as pd

    from forgetbench.leaderboard.table import row
    from forgetbench.report.markdown import markdown

    rows = {"items.parquet": _parquet(item_rows(run))}
    if run.kl is not None:
        rows["kl.parquet"] = _parquet(run.kl.rows)
    report = seal(run.report, rows)
    buf = io.StringIO()
    pd.DataFrame([row(report)]).to_csv(buf, index=False)

    def build(tmp: Path) -> None:
        for name, data in rows.items():
            write_file(tmp / name, data)
        write_file(tmp / "leaderboard_row.csv", buf.getvalue().encode())
        write_file(tmp / "report.md", markdown(report).encode())
        write_file(tmp / "report.json", to_json(report))
        write_file(tmp / "report.html", _page(tmp).encode())

    write_folder(folder, build, RUN_FILES)
    return report


def read_rows(path: Path) -> list[dict]:
    """A parquet file's rows as dicts (list columns as numpy arrays); none when the file is absent."""
    import pandas as pd

    return pd.read_parquet(path).to_dict("records") if path.is_file() else []


def _page(folder: Path, gate: GateVerdict | None = None) -> str:
    """report.html's text from what the run folder holds (report.json, checked against its rows;
    items.parquet; kl.parquet — or, in a KL-only run, kl.json and kl.parquet), with the gate's verdict."""
    from forgetbench.core.results_io import load_kl, load_report
    from forgetbench.report.html import RunView, render, render_kl

    kl_rows = read_rows(folder / "kl.parquet")
    if (folder / "report.json").is_file():
        return render(RunView(load_report(folder), read_rows(folder / "items.parquet"), kl_rows, gate))
    return render_kl(load_kl(folder / "kl.json"), kl_rows, gate)


def write_html(folder: Path, gate: GateVerdict | None = None) -> Path:
    """report.html (redrawn in a finished run folder, e.g. with the gate's verdict when the run had one),
    written atomically; a failed write is `WriteError` (exit 3) naming the page, the old page kept. Returns
    its path."""
    path = folder / "report.html"
    try:
        atomic_write_bytes(path, _page(folder, gate).encode())
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {os_reason(exc)} (the page there was left as it was)") from None
    return path
