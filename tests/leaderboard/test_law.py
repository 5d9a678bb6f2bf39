"""`leaderboard fit` on rows it cannot fit: a NaN/inf row is named as left out (which, why), never dropped
silently; a negative KL is a damaged row, refused naming it (exit 2, one line)."""

from __future__ import annotations

import json

import pytest

from forgetbench.core.errors import DataError
from forgetbench.leaderboard import table as leaderboard
from forgetbench.leaderboard.law import fit_law
from forgetbench.runs import load_report
from tests.cli.test_cli import _assert_one_line_error
from tests.command import fb


@pytest.fixture
def rows(score_runs):
    """Six rows on one base with F = 1 + 0.02 KL² exactly."""
    template = leaderboard.row(load_report(score_runs["barely"]))
    out = []
    for i, kl in enumerate([1.0, 5, 10, 15, 20, 30]):
        f = 1 + 0.02 * kl**2
        out.append(dict(template, ckpt=f"c{i}", ckpt_fingerprint=f"{i:064d}", kl=kl, forgetting=f, forgetting_low=f - 1,
                        forgetting_high=f + 1))  # fmt: skip
    return out


def _board(tmp_path, rows):
    path = tmp_path / "board.csv"
    leaderboard.add_rows(rows, path)
    return path


def test_rows_left_out_of_the_fit_are_named_with_why(rows, tmp_path):
    rows[1]["kl"] = float("nan")
    rows[2]["forgetting"] = float("inf")
    rows[3]["kl_direction"] = "reverse"
    board = _board(tmp_path, rows)
    law = fit_law(leaderboard.read(board), str(board), draws=0)
    assert law.n == 3 and law.left_out == (
        "row 2 (c1): no KL",
        "row 3 (c2): infinite forgetting",
        "row 4 (c3): reverse KL, the law is of forward KL",
    )
    proc = fb("leaderboard", "fit", str(board))
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if "not fitted" in line]
    assert warned == [f"warning: not fitted: {w}" for w in law.left_out]
    assert json.loads(fb("leaderboard", "fit", str(board), "--json").stdout)["left_out"] == list(law.left_out)


def test_a_negative_kl_is_refused_naming_the_row(rows, tmp_path):
    rows[4]["kl"] = -2.5
    board = _board(tmp_path, rows)
    before = board.read_bytes()
    with pytest.raises(DataError, match=r"row 5 \(c4\) has a negative KL \(-2\.5 nats/sequence\)"):
        fit_law(leaderboard.read(board), str(board))
    _assert_one_line_error(fb("leaderboard", "fit", str(board)), 2, "row 5 (c4) has a negative KL")
    assert board.read_bytes() == before
