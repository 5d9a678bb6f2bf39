"""`leaderboard predictors` on the published SmolLM2 ASDiv board, with predictor columns added: the table
ranks each column present, files are written, a row without a value leaves only that predictor's fit, and
bad input is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.command import fb, fb_json

BOARD = Path(__file__).parents[2] / "tests" / "leaderboard" / "written_before" / "smollm2-135m-asdiv.csv"
"""The published SmolLM2 ASDiv board as it was before the predictors table (its forward KL only): an old board."""


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Path:
    """The published board with two more predictors: one F tracks tightly, one unrelated, missing on 3 rows."""
    frame = pd.read_csv(BOARD, dtype={"label": str})
    rng = np.random.default_rng(0)
    f = frame["forgetting"].to_numpy(float)
    frame["tv_new"] = 0.1 * f + 0.01 * rng.normal(size=len(f)) + 1
    frame["weight_frobenius"] = rng.uniform(0, 1, len(f))
    frame.loc[:2, "weight_frobenius"] = np.nan
    path = tmp_path_factory.mktemp("pred") / "board.csv"
    frame.to_csv(path, index=False)
    return path


def test_every_predictor_column_is_ranked_and_written(board, tmp_path):
    out = tmp_path / "ranking"
    result = fb_json("leaderboard", "predictors", str(board), "--out", str(out), "--draws", "200")
    names = [r["name"] for r in result["ranks"]]
    assert names[0] == "tv_new" and set(names) == {"tv_new", "kl_forward_new", "weight_frobenius"}
    by = {r["name"]: r for r in result["ranks"]}
    assert by["tv_new"]["loo"]["r2"] > 0.9
    assert by["kl_forward_new"]["n"] == 15 and by["weight_frobenius"]["n"] == 12
    assert by["kl_forward_new"]["loo"]["r2"] == pytest.approx(0.67, abs=0.005)  # the law `leaderboard fit` states
    for suffix in (".csv", ".md", ".png", ".svg"):
        assert out.with_suffix(suffix).stat().st_size > 0
    table = pd.read_csv(out.with_suffix(".csv"))
    assert list(table["predictor"]) == names and table.loc[0, "law"] in ("linear", "quadratic", "isotonic")
    assert "| tv_new | new |" in out.with_suffix(".md").read_text()


def test_the_default_output_sits_beside_the_board(board):
    proc = fb("leaderboard", "predictors", str(board), "--draws", "100")
    assert proc.returncode == 0, proc.stderr
    assert "| predictor | inputs | law |" in proc.stdout
    assert board.with_name("board-predictors.png").is_file()


def test_a_board_without_predictor_values_is_one_line(tmp_path):
    frame = pd.read_csv(BOARD, dtype={"label": str})
    frame["kl"] = np.nan
    path = tmp_path / "empty.csv"
    frame.to_csv(path, index=False)
    proc = fb("leaderboard", "predictors", str(path), "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "no predictor column has a value" in proc.stderr
