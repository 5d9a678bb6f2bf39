"""`RunFolder`: every kind told apart (and a folder that is none, and a damaged summary), its files read and
written back unchanged, a run of another kind refused, and folders written before it read identically
(`written_before/`: a `score` and a `kl` run folder written by forgetbench before `runs/` existed, with
the same models and settings as the `score_runs` fixture)."""

from __future__ import annotations

import csv
import json
import re
import resource
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from forgetbench.core.errors import DataError, ResultFileError, UserInputError, WriteError
from forgetbench.runs import RunFolder, layout, load_kl, load_report, seal_kl, seal_score

BEFORE = Path(__file__).parent / "written_before"
PACKAGE = Path(__file__).resolve().parents[2] / "forgetbench"


@pytest.fixture
def score_copy(tmp_path) -> RunFolder:
    return RunFolder(shutil.copytree(BEFORE / "score", tmp_path / "score"))


def _unsealed(report):
    return replace(report, files={}, digest="")


def _write_compare(src: RunFolder, out: Path, with_kl: bool) -> RunFolder:
    """A `compare` run folder (with or without a joined KL) made of `src`'s report and rows."""
    report = replace(_unsealed(src.report()), source="lm-eval logs", kl=src.report().kl if with_kl else None)
    items, kl_rows = src.rows()
    sealed = seal_score(report, items, kl_rows if with_kl else None)
    folder = RunFolder(out)
    folder.write_score(sealed, leaderboard_row=b"row\n", markdown=b"# md\n", page=b"<html></html>")
    return folder


def _keys(value):
    """The nested key structure of a JSON value (lists by their first element)."""
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys(value[0])] if value else []
    return None


def test_every_kind_is_told_apart(score_copy, tmp_path):
    assert score_copy.kind == "score"
    assert RunFolder(BEFORE / "kl").kind == "kl"
    assert _write_compare(score_copy, tmp_path / "compare", with_kl=True).kind == "compare"
    gate_only = _write_compare(score_copy, tmp_path / "gate-only", with_kl=False)
    assert gate_only.kind == "gate-only" and not gate_only.has_kl_rows()
    sweep = RunFolder(tmp_path / "sweep")
    sweep.prepare("sweep").write_sweep_record({"sweep_version": 1, "base": "b", "checkpoints": []})
    assert sweep.kind == "sweep" and sweep.sweep_record()["base"] == "b"


def test_a_folder_that_is_no_run_has_no_kind(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "results.json").write_text("{}")
    assert RunFolder(tmp_path / "notes").kind is None
    assert RunFolder(tmp_path / "absent").kind is None
    assert RunFolder(tmp_path).kind is None


def test_a_damaged_summary_or_rows_file_is_one_error_naming_it(score_copy):
    items = score_copy.items_file
    items.write_bytes(items.read_bytes()[:100])
    with pytest.raises(DataError, match=f"{re.escape(str(items))} cannot be read"):
        score_copy.items()
    with pytest.raises(ResultFileError, match="was changed after the run wrote it"):
        score_copy.report()
    with pytest.raises(DataError, match="lacks column"):
        score_copy.kl_rows(("prompt_index", "no_such_column"))
    score_copy.report_file.write_text(score_copy.report_file.read_text()[:-20])
    with pytest.raises(ResultFileError, match=f"{re.escape(str(score_copy.report_file))} is not valid JSON") as info:
        _ = score_copy.kind
    assert info.value.exit_code == 2


def test_written_files_read_back_unchanged(score_runs, tmp_path):
    written = RunFolder(score_runs["barely"])
    report = written.report()
    items, kl_rows = written.rows()
    sealed = seal_score(
        _unsealed(report), items, kl_rows, {layout.KL_OLD_ROWS: written.side_rows(layout.KL_OLD_ROWS).to_dict("records")}
    )
    assert sealed.report == report  # the same rows seal to the same digest
    out = RunFolder(tmp_path / "again")
    out.write_score(sealed, leaderboard_row=b"r\n", markdown=b"m\n", page=b"p")
    assert out.report() == report and out.kind == "score"
    for name in (layout.ITEMS, layout.KL_ROWS, layout.KL_OLD_ROWS, layout.REPORT):
        assert (out.path / name).read_bytes() == (written.path / name).read_bytes(), name
    assert out.page_file.read_bytes() == b"p" and (out.path / layout.MARKDOWN).read_bytes() == b"m\n"
    kl = RunFolder(BEFORE / "kl").kl_result()
    sealed_kl = seal_kl(_unsealed(kl), RunFolder(BEFORE / "kl").rows()[1])
    RunFolder(tmp_path / "kl").write_kl(sealed_kl, page=b"k")
    # a version-6 result migrated to 7 seals to another digest (the predictors table is new); nothing else moves
    assert RunFolder(tmp_path / "kl").kl_result() == sealed_kl.result and _unsealed(kl) == _unsealed(sealed_kl.result)
    assert RunFolder(tmp_path / "kl").rows()[0] == [] and len(RunFolder(tmp_path / "kl").rows()[1]) == len(sealed_kl.rows())


def test_a_rerun_replaces_the_run_files_and_keeps_the_others(score_copy, tmp_path):
    (score_copy.path / "notes.txt").write_text("mine")
    gate_only = _write_compare(score_copy, score_copy.path, with_kl=False)
    assert gate_only.kind == "gate-only" and not gate_only.has_kl_rows() and (score_copy.path / "notes.txt").read_text() == "mine"


def test_a_run_of_another_kind_is_refused(score_copy, tmp_path):
    for kind in ("kl", "sweep"):
        with pytest.raises(UserInputError, match=f"holds a score run \\({layout.REPORT}\\); a {kind} run there"):
            score_copy.prepare(kind)
    assert score_copy.prepare("score") == score_copy and score_copy.prepare("compare") == score_copy
    kl = RunFolder(shutil.copytree(BEFORE / "kl", tmp_path / "kl"))
    for kind in ("score", "compare", "sweep"):
        with pytest.raises(UserInputError, match="holds a kl run"):
            kl.prepare(kind)
    sweep = RunFolder(tmp_path / "sweep").prepare("sweep")
    sweep.write_sweep_record({"sweep_version": 1, "checkpoints": []})
    with pytest.raises(UserInputError, match="holds a sweep run"):
        sweep.prepare("score")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserInputError, match="cannot write there"):
        RunFolder(tmp_path / "file" / "run").prepare("score")


def test_a_sweep_record_is_checked(tmp_path):
    folder = RunFolder(tmp_path)
    with pytest.raises(UserInputError, match=f"not a sweep folder \\(no {layout.SWEEP}\\)"):
        folder.sweep_record()
    with pytest.raises(UserInputError, match="not a folder"):
        RunFolder(tmp_path / "absent").sweep_record()
    folder.sweep_file.write_text("{")
    with pytest.raises(ResultFileError, match="is not valid JSON"):
        folder.sweep_record()
    folder.sweep_file.write_text(json.dumps({"sweep_version": 2, "checkpoints": []}))
    with pytest.raises(ResultFileError, match="not a sweep record of version 1"):
        folder.sweep_record()


def test_a_failed_page_write_keeps_the_old_page(score_copy):
    """A real full disk: RLIMIT_FSIZE makes the kernel refuse the write (EFBIG; SIGXFSZ ignored)."""
    before = score_copy.page_file.read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, hard))
    try:
        with pytest.raises(WriteError, match=f"cannot write {re.escape(str(score_copy.page_file))}: File too large") as info:
            score_copy.write_page(b"x" * 1000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert info.value.exit_code == 3 and score_copy.page_file.read_bytes() == before
    assert sorted(p.name for p in score_copy.path.iterdir() if p.name.startswith(".")) == []


def test_a_folder_written_before_is_read_identically(tmp_path):
    """The folders written before `runs/` existed: same kinds, their seals hold, the page drawn from them now
    is byte for byte the one written then, and a folder without a page (older still) gets that page."""
    from forgetbench.gate.decide import load_inputs
    from forgetbench.pipeline.run_folder import page_of
    from forgetbench.pipeline.view import report_page

    for kind in ("score", "kl"):
        folder = RunFolder(BEFORE / kind)
        assert folder.kind == kind and page_of(folder) == folder.page_file.read_text(encoding="utf-8")
    score = RunFolder(BEFORE / "score")
    assert score.report() == load_report(BEFORE / "score") == load_report(score.report_file)
    assert RunFolder(BEFORE / "kl").kl_result() == load_kl(BEFORE / "kl")
    inputs = load_inputs(score.report_file)
    assert inputs.run == score.path and set(inputs.tasks or ()) == {"fb_piqa_lite", "fb_openbookqa_lite"}
    older = RunFolder(shutil.copytree(BEFORE / "score", tmp_path / "older"))
    older.page_file.unlink()
    assert report_page(older.path) == older.page_file
    assert older.page_file.read_bytes() == score.page_file.read_bytes()


def test_files_written_now_have_the_names_and_keys_of_those_written_before(score_runs):
    """A `score` run folder written now (the `score_runs` fixture, same models and settings) holds the same
    files, the same JSON keys, columns and leaderboard header as one written before `runs/`; its page, drawn
    in memory when written, is the one drawn from the folder afterwards."""
    from forgetbench.pipeline.run_folder import page_of

    now, before = RunFolder(score_runs["barely"]), RunFolder(BEFORE / "score")
    names_now, names_before = {p.name for p in now.path.iterdir()}, {p.name for p in before.path.iterdir()}
    assert names_now - names_before == {layout.KL_OLD_ROWS} and names_before <= names_now  # version 7 adds the _old rows
    keys_now, keys_before = (_keys(json.loads(f.report_file.read_text())) for f in (now, before))
    assert set(keys_before) <= set(keys_now)  # version 7 adds the predictors table, nothing renamed
    assert list(now.items().columns) == list(before.items().columns)
    assert set(before.kl_rows().columns) <= set(now.kl_rows().columns)  # and each divergence's columns
    header = [next(csv.reader((f.path / layout.LEADERBOARD_ROW).open())) for f in (now, before)]
    assert set(header[1]) <= set(header[0])  # the board row gains the predictor columns
    assert page_of(now) == now.page_file.read_text(encoding="utf-8")


NAMES = (*layout.RUN_FILES, layout.SWEEP, *layout.TRAJECTORY_FILES, layout.ENTRY_RESULT, layout.ENTRY_ITEMS)
QUOTED_NAMES = re.compile(f"([\"'])(?:{'|'.join(map(re.escape, NAMES))})\\1")
"""A layout name as a whole string literal."""


def test_only_runs_names_run_folder_files():
    """The Must show of issue 26 (`grep -rn '"report.json"\\|"items.parquet"\\|"kl.parquet"' forgetbench/ | grep -v
    forgetbench/runs/` prints nothing), for every file name of the layout."""
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "runs" not in path.relative_to(PACKAGE).parts[:1]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if QUOTED_NAMES.search(line)
    ]
    assert found == []
    assert QUOTED_NAMES.search('x / "report.json"') and QUOTED_NAMES.search("'sweep.json'")  # the scan can fail
