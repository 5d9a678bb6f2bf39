"""Predictor columns on boards: `leaderboard add` fills one column per predictor a run measured (a run written
before the predictors table adds none, so an old board keeps its shape), and `leaderboard fit --predictor NAME`
fits the law against that column (an unknown name, or a column the board lacks or leaves empty: one line, exit 2)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forgetbench.core.predictors import BY_NAME
from forgetbench.core.results import PredictorValue
from forgetbench.leaderboard import table as leaderboard
from forgetbench.leaderboard.law import fit_law
from forgetbench.runs import RunFolder, load_report
from forgetbench.runs.folder import seal_score
from tests.cli.test_cli import _assert_one_line_error
from tests.command import fb, fb_json

ROOT = Path(__file__).parents[2]
BOARD = ROOT / "tests" / "leaderboard" / "written_before" / "smollm2-135m-asdiv.csv"
"""The published SmolLM2 ASDiv board as it was before the predictors table (its forward KL only): an old board."""
BEFORE = ROOT / "tests" / "runs" / "written_before" / "score"


def _value(name: str, value: float) -> PredictorValue:
    p = BY_NAME[name]
    ci = (math.nan, math.nan) if p.inputs == "weights" else (0.9 * value, 1.1 * value)
    return PredictorValue(name, p.inputs, value, *ci, p.unit)


def score_folder(path: Path, values: dict[str, float]) -> Path:
    """The score run written before the predictors table, rewritten by the real writer with `values` measured."""
    report = load_report(BEFORE)
    kl = report.kl
    assert kl is not None
    head = kl.predictors[0]
    order = list(BY_NAME)
    table = sorted([head, *(_value(n, v) for n, v in values.items())], key=lambda p: order.index(p.name))
    report = replace(report, kl=replace(kl, predictors=tuple(table)), files={}, digest="")
    items, kl_rows = RunFolder(BEFORE).rows()
    RunFolder(path).write_score(seal_score(report, items, kl_rows), leaderboard_row=b"", markdown=b"", page=b"")
    return path


def test_add_fills_one_column_per_measured_predictor(tmp_path):
    run = score_folder(tmp_path / "run", {"tv_new": 0.25, "js_old": 0.125, "weight_frobenius": 0.0123})
    board = tmp_path / "board.csv"
    proc = fb("leaderboard", "add", str(run), "--to", str(board))
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(board)
    n = len(leaderboard.COLUMNS)
    assert list(frame.columns[n : n + 3]) == ["tv_new", "js_old", "weight_frobenius"]  # catalog order, after COLUMNS
    assert (frame.loc[0, "tv_new"], frame.loc[0, "js_old"], frame.loc[0, "weight_frobenius"]) == (0.25, 0.125, 0.0123)
    assert frame.loc[0, "kl"] == pytest.approx(load_report(run).kl.headline_estimate.mean)  # the forward KL stays `kl`
    assert "kl_forward_new" not in frame.columns and not any(c.endswith(("_new_low", "_new_high")) for c in frame.columns)


def test_a_run_written_before_the_predictors_table_adds_no_column(tmp_path):
    board = tmp_path / "board.csv"
    leaderboard.add([BEFORE], board)
    assert not set(leaderboard.PREDICTOR_COLUMNS) & set(pd.read_csv(board).columns)
    leaderboard.add([score_folder(tmp_path / "run", {"act_new": 3.5})], board)
    frame = pd.read_csv(board)  # the same pair: one row, upserted with its new column
    assert len(frame) == 1 and frame.loc[0, "act_new"] == 3.5


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Path:
    """The published board with tv_new = KL / 100 exactly, js_new empty, kl_reverse_new on some rows."""
    frame = pd.read_csv(BOARD, dtype={"label": str})
    frame["tv_new"] = frame["kl"] / 100
    frame["js_new"] = np.nan
    frame["act_new"] = np.where(np.arange(len(frame)) < 5, np.nan, frame["kl"] ** 2)
    path = tmp_path_factory.mktemp("fit") / "board.csv"
    frame.to_csv(path, index=False)
    return path


def test_fit_against_a_predictor_column(board):
    """Every law is invariant to rescaling x: against TV = KL / 100 every R², LOO R² and ρ is the KL's, the slope
    100×; rows without a value are left out and named."""
    kl = fb_json("leaderboard", "fit", str(board))
    tv = fb_json("leaderboard", "fit", str(board), "--predictor", "tv_new")
    assert tv["predictor"] == "tv_new" and kl["predictor"] == "kl_forward_new" and tv["n"] == kl["n"] == 15
    for kind in ("linear", "quadratic", "isotonic"):
        assert tv[kind]["r2"] == pytest.approx(kl[kind]["r2"]) and tv[kind]["loo_r2"] == pytest.approx(kl[kind]["loo_r2"])
    assert tv["linear"]["coefficients"][1] == pytest.approx(100 * kl["linear"]["coefficients"][1])
    assert tv["headline"] == kl["headline"] and tv["spearman"]["rho"] == pytest.approx(kl["spearman"]["rho"])
    act = fit_law(pd.read_csv(board, dtype={"label": str}), str(board), predictor="act_new", draws=0)
    assert act.n == 10 and len(act.left_out) == 5 and all(r.endswith(": no act_new") for r in act.left_out)
    proc = fb("leaderboard", "fit", str(board), "--predictor", "tv_new")
    assert proc.returncode == 0 and "F against tv_new" in proc.stdout and "·tv_new" in proc.stdout, proc.stderr
    assert "Spearman ρ(F, tv_new)" in proc.stdout


@pytest.mark.parametrize(
    "name,needle",
    [
        ("tvv_new", "--predictor 'tvv_new' is not a predictor (choose from kl_forward_new, "),
        ("weight_spectral", "no weight_spectral column (the board's runs did not measure weight_spectral)"),
        ("js_new", "the js_new column has no value"),
    ],
)
def test_fit_against_a_predictor_the_board_lacks_is_one_line_exit_2(board, name, needle):
    _assert_one_line_error(fb("leaderboard", "fit", str(board), "--predictor", name), 2, needle)
