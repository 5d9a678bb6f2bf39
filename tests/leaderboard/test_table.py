"""Leaderboards: rows from real score runs, upsert, suite check, concurrent writers, SCHEMA.md in step
with the code, `leaderboard fit` (three laws, headline, --weighted), plot / render / `score --law` (the fits
themselves: tests/stats/test_law.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from forgetbench.core.errors import DataError
from forgetbench.leaderboard import table as leaderboard
from forgetbench.runs import load_report
from tests.command import fb

SCHEMA = Path(__file__).resolve().parents[2] / "leaderboards" / "SCHEMA.md"


def test_schema_md_documents_every_column():
    text = SCHEMA.read_text()
    documented = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))
    assert set(leaderboard.COLUMNS) <= documented
    assert {f"TASK:{c}" for c in leaderboard.TASK_COLUMNS} <= documented
    order = [c for c in re.findall(r"^\| `([^`]+)` \|", text, flags=re.M) if not c.startswith("TASK:")]
    assert order == list(leaderboard.COLUMNS) + list(leaderboard.PREDICTOR_COLUMNS)  # SCHEMA.md lists them in file order


def test_predictor_columns_survive_an_upsert_and_old_boards_read_without_them(board, score_runs, tmp_path):
    import pandas as pd

    frame = pd.read_csv(board)
    measured = [c for c in leaderboard.PREDICTOR_COLUMNS if c in frame.columns]
    assert "tv_new" in measured and "kl_reverse_new" not in measured  # a forward run of this version fills them
    old = frame.drop(columns=measured)
    old.to_csv(board, index=False)
    assert not set(leaderboard.PREDICTOR_COLUMNS) & set(leaderboard.read(board).columns)  # a board without them reads
    old["kl_reverse_new"] = [0.5, 2.0]
    old.to_csv(board, index=False)
    leaderboard.add([score_runs["barely"]], board, label="again")  # an upsert of a row that has no value of it
    after = pd.read_csv(board)
    kept = [c for c in after.columns if c in leaderboard.PREDICTOR_COLUMNS]
    assert kept == [c for c in leaderboard.PREDICTOR_COLUMNS if c in {*measured, "kl_reverse_new"}]  # catalog order
    assert list(after.columns[len(leaderboard.COLUMNS) : len(leaderboard.COLUMNS) + len(kept)]) == kept
    assert after["kl_reverse_new"].isna().sum() == 1 and 2.0 in set(after["kl_reverse_new"])
    assert after["tv_new"].isna().sum() == 1  # the older row has no value of the columns the upsert brought


@pytest.fixture
def board(score_runs, tmp_path):
    path = tmp_path / "board.csv"
    result = leaderboard.add([score_runs["barely"], score_runs["damaged"]], path, label="test")
    assert (result.added, result.updated, result.total) == (2, 0, 2)
    return path


def test_rows_carry_the_report_and_a_stable_column_order(board, score_runs):
    frame = leaderboard.read(board)
    report = load_report(score_runs["damaged"])
    row = frame[frame["ckpt_fingerprint"] == report.ckpt.fingerprint].iloc[0]
    assert row["forgetting"] == pytest.approx(report.retention.forgetting) and row["kl"] == pytest.approx(
        report.kl.estimates[0].mean
    )
    tasks = [t.task for t in report.retention.tasks]
    measured = {p.name for p in report.kl.predictors}
    predictors = [c for c in leaderboard.PREDICTOR_COLUMNS if c in measured]
    assert "tv_new" in predictors and row["tv_new"] == pytest.approx(report.kl.predictor("tv_new").value)
    assert list(frame.columns) == list(leaderboard.COLUMNS) + predictors + [
        f"{t}:{c}" for t in tasks for c in leaderboard.TASK_COLUMNS
    ]
    assert row[f"{tasks[0]}:delta"] == pytest.approx(report.retention.tasks[0].delta)


def test_adding_a_run_again_updates_its_row(board, score_runs):
    before = board.read_bytes()
    result = fb("leaderboard", "add", str(score_runs["barely"]), "--to", str(board), "--label", "again")
    assert result.returncode == 0, result.stderr
    frame = leaderboard.read(board)
    assert len(frame) == 2 and sorted(frame["label"]) == ["again", "test"] and board.read_bytes() != before


def test_a_row_of_another_suite_is_refused_unless_allowed(board, score_runs):
    row = leaderboard.row(load_report(score_runs["barely"]))
    row.update(suite_hash="f" * 64, ckpt_fingerprint="e" * 64)
    before = board.read_bytes()
    with pytest.raises(DataError, match="different suites"):
        leaderboard.add_rows([row], board)
    assert board.read_bytes() == before
    assert leaderboard.add_rows([row], board, allow_suite_change=True).total == 3


WRITER = """
import sys
from forgetbench.leaderboard import table as leaderboard
from forgetbench.runs import load_report
row = leaderboard.row(load_report(sys.argv[1]), "writer")
for i in range(5):
    r = dict(row, ckpt_fingerprint=f"{sys.argv[2]}-{i}", kl=float(i))
    leaderboard.add_rows([r], sys.argv[3])
"""


def test_many_concurrent_writers_lose_nothing(score_runs, tmp_path):
    path = tmp_path / "shared.csv"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(score_runs["barely"]), f"w{w}", str(path)]) for w in range(12)]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    frame = leaderboard.read(path)
    assert len(frame) == 60 and frame["ckpt_fingerprint"].is_unique
    assert set(frame["ckpt_fingerprint"]) == {f"w{w}-{i}" for w in range(12) for i in range(5)}
    assert not list(tmp_path.glob("*.tmp*"))  # no temp files left behind


@pytest.fixture
def family(score_runs, tmp_path):
    """A leaderboard of 6 synthetic rows on one base: F = 1 + 0.02 KL² exactly."""
    template = leaderboard.row(load_report(score_runs["barely"]))
    rows = []
    for i, kl in enumerate([1.0, 5, 10, 15, 20, 30]):
        f = 1 + 0.02 * kl**2
        rows.append(
            dict(
                template,
                ckpt=f"c{i}",
                ckpt_fingerprint=f"{i:064d}",
                kl=kl,
                kl_low=kl - 1,
                kl_high=kl + 1,
                forgetting=f,
                forgetting_low=f - 1,
                forgetting_high=f + 1,
                label="on" if i % 2 else "off",
            )
        )
    path = tmp_path / "family.csv"
    leaderboard.add_rows(rows, path)
    return path


def test_fit_reports_three_laws_the_headline_and_warns_on_small_n(family):
    proc = fb("leaderboard", "fit", str(family), "--json")
    assert proc.returncode == 0, proc.stderr
    law = json.loads(proc.stdout)
    assert law["n"] == 6 and law["quadratic"]["coefficients"] == pytest.approx([1, 0, 0.02], abs=1e-9)
    assert law["quadratic"]["loo_r2"] == pytest.approx(1) and law["isotonic"]["r2"] == pytest.approx(1)
    assert law["linear"]["loo_r2"] < 1 and law["headline"] == "quadratic" and not law["weighted"]
    assert law["spearman"]["rho"] == pytest.approx(1) and law["r2_interval"]["kind"] == "quadratic"
    assert law["r2_interval"]["high"] == pytest.approx(1) and 0 < law["r2_interval"]["used"] <= law["r2_interval"]["draws"]
    assert "not to be trusted" in law["warning"]
    proc = fb("leaderboard", "fit", str(family))
    assert re.search(r"^quadratic .* R² 1\.000 +leave-one-out R² 1\.000 +← headline", proc.stdout, re.M), proc.stdout
    assert re.search(r"^Spearman ρ\(F, KL\) 1\.000 \(p = ", proc.stdout, re.M), proc.stdout


def test_fit_weighted_by_the_forgetting_ci(family, tmp_path):
    """--weighted: 1/se² of F from forgetting_low/high; equal CIs give the unweighted fit, a row without a CI is refused."""
    plain = json.loads(fb("leaderboard", "fit", str(family), "--json").stdout)
    proc = fb("leaderboard", "fit", str(family), "--json", "--weighted")
    assert proc.returncode == 0, proc.stderr
    weighted = json.loads(proc.stdout)
    assert weighted["weighted"] and weighted["linear"]["coefficients"] == pytest.approx(plain["linear"]["coefficients"])
    frame = leaderboard.read(family)
    frame.loc[0, "forgetting_high"] = frame.loc[0, "forgetting"] + 9  # a wide CI: that row counts less
    frame.to_csv(tmp_path / "wide.csv", index=False)
    wide = json.loads(fb("leaderboard", "fit", str(tmp_path / "wide.csv"), "--json", "--weighted").stdout)
    assert wide["linear"]["coefficients"] != pytest.approx(plain["linear"]["coefficients"])
    frame.loc[0, "forgetting_low"] = float("nan")
    frame.to_csv(tmp_path / "none.csv", index=False)
    proc = fb("leaderboard", "fit", str(tmp_path / "none.csv"), "--weighted")
    assert proc.returncode == 2 and "lack a forgetting CI" in proc.stderr


def test_published_board_headline_is_the_straight_line():
    """leaderboards/smollm2-135m-asdiv.csv: the line predicts a left-out checkpoint better than the paper's quadratic."""
    from forgetbench.leaderboard.law import law_for

    _, law = law_for(SCHEMA.parent / "smollm2-135m-asdiv.csv")
    assert law.n == 15 and law.headline == "linear" and law.best is law.linear
    assert law.linear.loo_r2 == pytest.approx(0.673, abs=1e-3) and law.quadratic.loo_r2 == pytest.approx(0.643, abs=1e-3)
    assert law.isotonic.loo_r2 == pytest.approx(0.513, abs=1e-3) and law.spearman.p_value < 0.01
    ci = law.r2_interval
    assert ci is not None and ci.kind == "linear" and ci.low < law.linear.r2 < ci.high and ci.used == ci.draws == 2000


def test_fit_on_three_checkpoints_says_why_there_is_no_leave_one_out(family, tmp_path):
    three = tmp_path / "three.csv"
    lines = family.read_text().splitlines()
    three.write_text("\n".join(lines[:4]) + "\n")
    proc = fb("leaderboard", "fit", str(three))
    assert proc.returncode == 0, proc.stderr
    assert "leave-one-out R² n/a (needs at least 4 checkpoints)" in proc.stdout and "nan" not in proc.stdout
    assert re.search(r"^linear .* leave-one-out R² [-0-9.]+ +← headline", proc.stdout, re.M), proc.stdout


def test_plot_and_render(family, tmp_path):
    proc = fb("leaderboard", "plot", str(family), "--out", str(tmp_path / "plot"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "plot.svg").read_text()[:2000]
    proc = fb("leaderboard", "render", str(family), "--out", str(tmp_path / "table"), "--sort", "kl", "--descending")
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "table.md").read_text().splitlines()
    kls = [float(line.split("|")[8]) for line in md if line.startswith("| o")]
    assert kls == sorted(kls, reverse=True) and len(kls) == 6
    assert "<table>" in (tmp_path / "table.html").read_text()
    proc = fb("leaderboard", "render", str(family), "--out", str(tmp_path / "t"), "--sort", "nope")
    assert proc.returncode == 2 and "no column 'nope'" in proc.stderr


def test_table_cells_print_no_negative_zero():
    from forgetbench.leaderboard.render import _cell

    assert [_cell(-1e-16), _cell(-0.0), _cell(-0.004), _cell(-0.006), _cell(float("nan"))] == [
        "0.00",
        "0.00",
        "0.00",
        "-0.01",
        "–",
    ]


def test_bad_leaderboard_file_is_exit_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    proc = fb("leaderboard", "fit", str(bad))
    assert proc.returncode == 2 and "not a forgetbench leaderboard" in proc.stderr


def test_a_report_edited_after_it_was_written_is_refused(score_runs, tmp_path):
    """`leaderboard add` checks a report against its own digest: an edited fingerprint is exit 2, the board untouched."""
    import shutil

    run = Path(shutil.copytree(score_runs["barely"], tmp_path / "run"))
    board = tmp_path / "board.csv"
    assert fb("leaderboard", "add", str(run), "--to", str(board)).returncode == 0
    before = board.read_bytes()
    report = json.loads((run / "report.json").read_text())
    report["ckpt"]["fingerprint"] = "0" * 64
    (run / "report.json").write_text(json.dumps(report, indent=2))
    proc = fb("leaderboard", "add", str(run), "--to", str(board))
    assert proc.returncode == 2 and "edited after it was written" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert board.read_bytes() == before


def test_score_prints_the_law_prediction(family, memorised_models, score_runs, tmp_path):
    """`score --law`: the headline law (here the quadratic, exact on these rows) fitted on the other
    checkpoints of this base, evaluated at this KL."""
    frame = leaderboard.read(family)
    base_fp = load_report(score_runs["barely"]).base.fingerprint
    assert (frame["base_fingerprint"] == base_fp).all()
    import os

    from forgetbench.core.config import ScoreConfig
    from forgetbench.core.store import Store
    from forgetbench.pipeline.score import compute_score

    os.environ["FORGETBENCH_TASKS_DIR"] = str(score_runs["tasks"])
    try:
        config = ScoreConfig.build(
            str(memorised_models["base"]),
            str(memorised_models["damaged"]),
            str(score_runs["prompts"]),
            suite="mem",
            limit=30,
            n_prompts=4,
            max_new_tokens=8,
            batch_size=8,
            noise_floor_prompts=0,
            law=str(family),
        )
        report = compute_score(config, Store(score_runs["store"])).report
    finally:
        os.environ.pop("FORGETBENCH_TASKS_DIR")
    kl = report.kl.headline_estimate.mean
    assert report.law.n == 6 and report.law.predicted_forgetting == pytest.approx(1 + 0.02 * kl**2, rel=1e-6)
    assert report.law.kind == "quadratic" and report.law.loo_r2 == pytest.approx(1)
