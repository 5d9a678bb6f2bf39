"""`RunFolder`: the one owner of a run folder — its layout (`runs.layout`), its kind, and every read and
write of its files.

Kinds (`Kind`), told from the folder's summary file (`report.json` is read for its `source` and `kl`):

- `score`: `forgetbench score` (report.json with `source: forgetbench`, items.parquet, kl.parquet,
  report.md, leaderboard_row.csv, report.html).
- `compare`: `forgetbench compare --kl` (report.json with `source: lm-eval logs` and a KL joined from a KL
  run; the same files as `score`).
- `gate-only`: `forgetbench compare` without `--kl` (report.json with `source: lm-eval logs`, `kl: null`,
  no kl.parquet): retention alone, which only the gate's task and aggregate rules (and a leaderboard row
  without KL) can use.
- `kl`: `forgetbench kl`, or `score --gate` with a KL-only policy (kl.json, kl.parquet, report.html).
- `sweep`: a sweep folder (sweep.json, a run folder per checkpoint, trajectory.*, report.html).

A folder with none of those files is not a run folder (`kind` None); a summary that cannot be read is
`ResultFileError` (exit 2) naming the file. Writes are whole (`core.fs.write_folder`: a temporary sibling
renamed into place; a failed write is `WriteError`, exit 3, naming the file, the folder left as it was).
Nothing here renders: the pipeline draws report.md and report.html and hands over their bytes.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from forgetbench.core.errors import DataError, ResultFileError, UserInputError, WriteError
from forgetbench.core.fs import atomic_write_bytes, os_reason, probe_folder, write_file, write_folder
from forgetbench.core.results import KLResult, ScoreReport
from forgetbench.core.results_io import read_json, read_result, seal, to_json, verify_files
from forgetbench.runs import layout

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["score", "kl", "compare", "sweep", "gate-only"]
REPORT_KINDS: tuple[Kind, ...] = ("score", "compare", "gate-only")
"""The kinds whose summary is report.json (a `ScoreReport`)."""
SWEEP_VERSION = 1
"""The version of sweep.json's record."""

_WRITES = {"score": layout.REPORT, "compare": layout.REPORT, "kl": layout.KL, "sweep": layout.SWEEP}
"""The summary file each kind of run writes (a `gate-only` folder is written by `compare`)."""
_FAMILY = {layout.REPORT: "score", layout.KL: "kl", layout.SWEEP: "sweep"}
"""What a summary file says a folder holds, before it is read (a report.json: `score` or `compare`)."""


def load_report(path: Path | str) -> ScoreReport:
    """A `score` or `compare` run's report.json (or the run folder holding one) as a ScoreReport:
    version-checked, migrated and sealed-checked (`core.results_io.read_result`); its rows are not read."""
    path = Path(path)
    return read_result(path / layout.REPORT if path.is_dir() else path, ScoreReport)


def load_kl(path: Path | str) -> KLResult:
    """A KL-only run's kl.json (or the run folder holding one) as a KLResult (as `load_report`)."""
    path = Path(path)
    return read_result(path / layout.KL if path.is_dir() else path, KLResult)


def _parquet(rows: list[dict]) -> bytes:
    import pandas as pd

    return pd.DataFrame(rows).to_parquet(index=False)


def _records(data: bytes | None) -> list[dict]:
    """Parquet bytes as rows (list columns as numpy arrays, exactly as read back from the file); none for None."""
    import pandas as pd

    return [] if data is None else pd.read_parquet(io.BytesIO(data)).to_dict("records")


@dataclass(frozen=True)
class SealedScore:
    """A score or compare run ready to write: its report sealed with the hashes of its rows' bytes."""

    report: ScoreReport
    items: bytes
    """items.parquet's bytes."""
    kl: bytes | None
    """kl.parquet's bytes (None: a `compare` without `--kl`)."""
    side: dict[str, bytes] = field(default_factory=dict)
    """The rows beside kl.parquet by file name (`layout.SIDE_ROWS`: kl_old.parquet, kl_reverse.parquet), as bytes."""

    def rows(self) -> tuple[list[dict], list[dict]]:
        """The item and KL rows as the folder will hold them (decoded from the bytes, not read from disk)."""
        return _records(self.items), _records(self.kl)


@dataclass(frozen=True)
class SealedKL:
    """A KL-only run ready to write: its result sealed with the hash of kl.parquet's bytes."""

    result: KLResult
    rows_bytes: bytes
    side: dict[str, bytes] = field(default_factory=dict)
    """The rows beside kl.parquet by file name (`layout.SIDE_ROWS`), as bytes."""

    def rows(self) -> list[dict]:
        """kl.parquet's rows as the folder will hold them."""
        return _records(self.rows_bytes)


def _side(side_rows: Mapping[str, list[dict]] | None) -> dict[str, bytes]:
    """The non-empty side rows (`layout.SIDE_ROWS` names only) as parquet bytes."""
    unknown = set(side_rows or {}) - set(layout.SIDE_ROWS)
    if unknown:
        raise ValueError(f"not a side-rows file: {', '.join(sorted(unknown))}")
    return {name: _parquet(rows) for name, rows in (side_rows or {}).items() if rows}


def seal_score(
    report: ScoreReport, items: list[dict], kl_rows: list[dict] | None, side_rows: Mapping[str, list[dict]] | None = None
) -> SealedScore:
    """`report` sealed (`core.results_io.seal`) with items.parquet and, when there is a KL, kl.parquet and the
    side rows it has (`side_rows`: {`layout.KL_OLD_ROWS`: rows, ...}, empty ones left out)."""
    files = {layout.ITEMS: _parquet(items)}
    side = _side(side_rows)
    if kl_rows is not None:
        files[layout.KL_ROWS] = _parquet(kl_rows)
    return SealedScore(seal(report, {**files, **side}), files[layout.ITEMS], files.get(layout.KL_ROWS), side)


def seal_kl(result: KLResult, rows: list[dict], side_rows: Mapping[str, list[dict]] | None = None) -> SealedKL:
    """`result` sealed with kl.parquet (one row per prompt × sample) and its side rows (as `seal_score`)."""
    data, side = _parquet(rows), _side(side_rows)
    return SealedKL(seal(result, {layout.KL_ROWS: data, **side}), data, side)


def _frame(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A run's parquet file with the columns a reader needs (DataError, exit 2, naming the file otherwise)."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise DataError(f"{path} is missing") from None
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path} cannot be read ({type(exc).__name__})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {', '.join(missing)}")
    return frame


@dataclass(frozen=True)
class RunFolder:
    """A run folder (or a sweep folder) at `path`: what it is (`kind`), and its files read and written."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, path: Path | str) -> RunFolder:
        """The run folder `path` names: a folder, or a file in one (its report.json, kl.json or report.html)."""
        path = Path(path)
        return cls(path.parent if path.is_file() else path)

    @classmethod
    def at(cls, out: Path | str | None, kind: str) -> RunFolder:
        """The folder a job was given (`--out`), or by default `runs/<kind>-<UTC time>/` under the working
        directory."""
        return cls(Path(out) if out is not None else Path("runs") / time.strftime(f"{kind}-%Y%m%d-%H%M%S", time.gmtime()))

    # the layout

    @property
    def report_file(self) -> Path:
        return self.path / layout.REPORT

    @property
    def kl_file(self) -> Path:
        return self.path / layout.KL

    @property
    def items_file(self) -> Path:
        return self.path / layout.ITEMS

    @property
    def kl_rows_file(self) -> Path:
        return self.path / layout.KL_ROWS

    @property
    def page_file(self) -> Path:
        return self.path / layout.PAGE

    @property
    def sweep_file(self) -> Path:
        return self.path / layout.SWEEP

    @property
    def trajectory_stem(self) -> Path:
        """Where a sweep's trajectory plot goes (`.png` and `.svg` beside this stem)."""
        return self.path / layout.TRAJECTORY

    def checkpoint(self, name: str) -> RunFolder:
        """The run folder of one checkpoint of the sweep in this folder."""
        return RunFolder(self.path / name)

    def has_page(self) -> bool:
        return self.page_file.is_file()

    def has_kl_rows(self) -> bool:
        return self.kl_rows_file.is_file()

    # the kind

    def _summary(self) -> str | None:
        """The summary file present (report.json before kl.json before sweep.json), without reading it."""
        return next((name for name in _FAMILY if (self.path / name).is_file()), None)

    @property
    def kind(self) -> Kind | None:
        """What the folder holds (module docstring); None when it is no run folder (or no folder). A report.json
        is read (ResultFileError, exit 2, when it cannot be: damaged, edited, or of a newer forgetbench)."""
        summary = self._summary()
        if summary is None:
            return None
        if summary != layout.REPORT:
            return "kl" if summary == layout.KL else "sweep"
        report = load_report(self.report_file)
        if report.source == "forgetbench":
            return "score"
        return "compare" if report.kl is not None else "gate-only"

    def prepare(self, kind: Literal["score", "compare", "kl", "sweep"]) -> RunFolder:
        """Create the folder before any compute (an unusable path fails first): UserInputError (exit 2) when
        it cannot be created or written, or when it holds a run of another kind (a rerun replaces a folder's
        run files, so a `kl` run into a `score` folder would remove its report). It stays as it was until the
        run is written, whole."""
        own = _WRITES[kind]
        other = self._summary()
        if other is not None and other != own and not (self.path / own).is_file():
            raise UserInputError(
                f"run folder {self.path} holds a {_FAMILY[other]} run ({other}); a {kind} run there would replace "
                "its files: give another --out"
            )
        try:
            probe_folder(self.path)
        except OSError as exc:
            raise UserInputError(f"run folder {self.path}: cannot write there ({os_reason(exc)})") from None
        return self

    # reading

    def report(self, verify: bool = True) -> ScoreReport:
        """report.json as a ScoreReport; with `verify`, the rows it sealed are checked against their hashes
        (`core.results_io.verify_files`: a missing or changed file is ResultFileError, exit 2)."""
        report = load_report(self.report_file)
        if verify:
            verify_files(report, self.path)
        return report

    def kl_result(self, verify: bool = True) -> KLResult:
        """kl.json as a KLResult (with `verify`, kl.parquet checked against its hash)."""
        result = load_kl(self.kl_file)
        if verify:
            verify_files(result, self.path)
        return result

    def items(self, columns: tuple[str, ...] = ()) -> pd.DataFrame:
        """items.parquet, with at least `columns` (DataError naming the file when missing, damaged or short)."""
        return _frame(self.items_file, columns)

    def kl_rows(self, columns: tuple[str, ...] = ()) -> pd.DataFrame:
        """kl.parquet, with at least `columns` (as `items`)."""
        return _frame(self.kl_rows_file, columns)

    def side_rows(self, name: str, columns: tuple[str, ...] = ()) -> pd.DataFrame:
        """A side-rows file (`layout.KL_OLD_ROWS`: the rows on prior-suite prompts; `layout.KL_REVERSE_ROWS`:
        the checkpoint's own samples), with at least `columns` (as `items`; DataError naming the file when
        the run did not measure them)."""
        return _frame(self.path / name, columns)

    def has_side_rows(self, name: str) -> bool:
        return (self.path / name).is_file()

    def rows(self) -> tuple[list[dict], list[dict]]:
        """items.parquet's and kl.parquet's rows as dicts (list columns as numpy arrays; none where a file is
        absent: a KL-only run has no items, a `compare` without `--kl` no KL rows)."""
        items, kl = (_frame(p, ()).to_dict("records") if p.is_file() else [] for p in (self.items_file, self.kl_rows_file))
        return items, kl

    def sweep_record(self) -> dict[str, Any]:
        """sweep.json's record: UserInputError when this is no sweep folder, ResultFileError when the record is
        not JSON or not of `SWEEP_VERSION`."""
        if not self.path.is_dir():
            raise UserInputError(f"{self.path}: not a sweep folder (not a folder)")
        if not self.sweep_file.is_file():
            raise UserInputError(f"{self.path}: not a sweep folder (no {layout.SWEEP})")
        record = read_json(self.sweep_file)
        if not isinstance(record, dict) or record.get("sweep_version") != SWEEP_VERSION or "checkpoints" not in record:
            raise ResultFileError(f"{self.sweep_file}: not a sweep record of version {SWEEP_VERSION}")
        return record

    # writing

    def write_score(self, sealed: SealedScore, *, leaderboard_row: bytes, markdown: bytes, page: bytes) -> None:
        """The whole score (or compare) run: items.parquet, kl.parquet (when there is a KL),
        leaderboard_row.csv, report.md, report.json and report.html, replacing an earlier run's files."""

        def build(tmp: Path) -> None:
            write_file(tmp / layout.ITEMS, sealed.items)
            if sealed.kl is not None:
                write_file(tmp / layout.KL_ROWS, sealed.kl)
            for name, data in sealed.side.items():
                write_file(tmp / name, data)
            write_file(tmp / layout.LEADERBOARD_ROW, leaderboard_row)
            write_file(tmp / layout.MARKDOWN, markdown)
            write_file(tmp / layout.REPORT, to_json(sealed.report))
            write_file(tmp / layout.PAGE, page)

        write_folder(self.path, build, layout.RUN_FILES)

    def write_kl(self, sealed: SealedKL, *, page: bytes) -> None:
        """The whole KL-only run: kl.parquet, kl.json and report.html, replacing an earlier run's files."""

        def build(tmp: Path) -> None:
            write_file(tmp / layout.KL_ROWS, sealed.rows_bytes)
            for name, data in sealed.side.items():
                write_file(tmp / name, data)
            write_file(tmp / layout.KL, to_json(sealed.result))
            write_file(tmp / layout.PAGE, page)

        write_folder(self.path, build, layout.RUN_FILES)

    def _write(self, name: str, data: bytes, what: str) -> Path:
        path = self.path / name
        try:
            atomic_write_bytes(path, data)
        except OSError as exc:
            raise WriteError(f"cannot write {path}: {os_reason(exc)} ({what})") from None
        return path

    def write_page(self, page: bytes) -> Path:
        """report.html alone (redrawn: with the gate's verdict, for a folder from before pages, or a sweep's),
        atomically; a failed write is WriteError (exit 3) naming it, the old page kept. Returns its path."""
        return self._write(layout.PAGE, page, "the page there was left as it was")

    def write_sweep_record(self, record: dict[str, Any]) -> None:
        """sweep.json (indented JSON), atomically."""
        self._write(layout.SWEEP, json.dumps(record, indent=2).encode(), "the record there was left as it was")

    def write_trajectory(self, csv: bytes, markdown: bytes) -> list[Path]:
        """A sweep's trajectory.csv and trajectory.md, each atomically; their paths."""
        csv_name, md_name = layout.TRAJECTORY_FILES[:2]
        return [
            self._write(name, data, "the file there was left as it was") for name, data in ((csv_name, csv), (md_name, markdown))
        ]
