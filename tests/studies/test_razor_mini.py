"""`studies/razor_mini/run.py --quick` end to end on a tiny model: TRL's SFT and GRPO trainers (a few steps),
forgetbench's sweep, leaderboard add / fit / predictors, and the study's figures. CI runs this; the full
study's rows and figures are committed, never recomputed here."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

STUDY = Path(__file__).resolve().parents[2] / "studies" / "razor_mini"

pytest.importorskip("trl", reason="the study's trainers: pip install 'forgetbench[train]'")


def _study():
    sys.path.insert(0, str(STUDY))
    try:
        spec = importlib.util.spec_from_file_location("razor_mini_run", STUDY / "run.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(STUDY))


def test_quick_study_trains_both_methods_sweeps_and_publishes_a_board(tiny_model, tmp_path, monkeypatch):
    base = Path(shutil.copytree(tiny_model, tmp_path / "base"))
    out = tmp_path / "study"
    env = {
        **os.environ,
        "FORGETBENCH_HOME": str(tmp_path / "home"),
    }  # a private store: the tiny base is a path, no embedded model
    done = subprocess.run(
        [sys.executable, str(STUDY / "run.py"), "--quick", "--base", str(base), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    board = pd.read_csv(out / "board.csv")
    assert sorted(board["label"]) == ["GRPO", "SFT", "SFT"]
    assert set(board["ckpt"]) == {f"razor-mini/sft-quick/checkpoint-{k}" for k in (1, 2)} | {"razor-mini/grpo-quick/checkpoint-2"}
    assert board["new_task"].eq("task:fb_numrange_smoke").all() and board["new_task_metric"].eq("valid").all()
    for predictor in ("kl_reverse_new", "tv_old", "weight_frobenius"):  # every predictor: --direction both, old prompts
        assert board[predictor].notna().all(), predictor
    assert (board.loc[board["label"] == "SFT", "kl"] > 0).all()  # the SFT adapters moved the model
    for run in ("sft-quick", "grpo-quick"):
        record = json.loads((out / "train" / run / "study_run.json").read_text())
        assert record["finished"] and record["trainer_args"]["learning_rate"] == 2e-2 and record["lora"]["r"] == 16
    assert record["rewards"], "GRPO logged its verifier rewards"
    sft = json.loads((out / "train" / "sft-quick" / "study_run.json").read_text())
    assert [p["step"] for p in sft["kl_trajectory"]] == [1, 2]  # ForgettingCallback, every step in --quick
    assert all(p["kl_forward_low"] <= p["kl_forward"] <= p["kl_forward_high"] for p in sft["kl_trajectory"])
    swept = board.set_index("ckpt").loc["razor-mini/sft-quick/checkpoint-2", "kl"]
    assert abs(swept - sft["kl_trajectory"][1]["kl_forward"]) <= 1e-5  # what the sweep measured on the saved step
    figures = out / "figures"
    for name in ("pareto.png", "law.png", "predictors.png", "predictors.md", "matched.md", "law.txt", "kl_trajectories.png"):
        assert (figures / name).stat().st_size > 0, name
    assert len(json.loads((figures / "matched.json").read_text())) == 2  # both SFT checkpoints match the GRPO one
    assert set(json.loads((out / "timings.json").read_text())) == {
        "train sft-quick",
        "sweep sft-quick",
        "train grpo-quick",
        "sweep grpo-quick",
        "board",
    }

    # Resumable: a finished run is not trained again.
    study = _study()
    monkeypatch.setattr(study, "_trainer", lambda *a: pytest.fail("a finished run was trained again"))
    assert study.train(study.QUICK.runs[0], study.QUICK, str(base), out) == out / "train" / "sft-quick"
