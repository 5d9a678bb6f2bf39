"""`forgetbench sweep` on a tiny model's "training run" of LoRA checkpoints made on the spot with peft:
step order, one base load, run folders exactly as `score` writes them, resuming (also after kill -9),
shards and `--collect`, leaderboard rows, and bad checkpoints refused before any compute."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from forgetbench.core.config import ScoreConfig
from forgetbench.core.errors import ModelSpecError, UserInputError
from forgetbench.core.store import Store
from forgetbench.pipeline.score import score
from forgetbench.pipeline.sweep import collect, parse_shard, sweep
from tests.tiny import make_lora

STEPS = (5, 10, 20, 40)  # "checkpoint-10" sorts before "checkpoint-5" as text: the order must come from the step
OPTIONS = {"suite": "one", "limit": 6, "n_prompts": 3, "max_new_tokens": 6, "noise_floor_prompts": 2, "batch_size": 4}


@pytest.fixture(scope="module")
def run_folder(tiny_model, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("training") / "run"
    for i, step in enumerate(STEPS):
        make_lora(tiny_model, run / f"checkpoint-{step}", seed=i)
    return run


@pytest.fixture
def setup(tiny_model, tmp_path, custom_suites):
    custom_suites("one", {"fb_piqa_lite": "acc"})
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps({"prompt": t}) for t in ["The quick brown fox", "Seven red apples", "Fog forms"]))
    return ScoreConfig.build(str(tiny_model), str(tiny_model), str(prompts), **OPTIONS)


def _numbers(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "trajectory.csv").drop(columns=["folder"])


def test_a_training_run_is_swept_in_step_order_with_the_base_loaded_once(setup, run_folder, tmp_path):
    store = Store(tmp_path / "store")
    out = sweep(setup, [str(run_folder)], store=store, out=tmp_path / "sweep")
    assert [p.step for p in out.points] == list(STEPS) and out.ran == [f"checkpoint-{s}" for s in STEPS]
    assert out.usage is not None and out.usage.loads[str(setup.base)] == 1  # evaluated and sampled once
    assert all(n == 1 for n in out.usage.loads.values()) and out.usage.engines == 0
    assert {f.name for f in out.files} == {"trajectory.csv", "trajectory.md", "trajectory.png", "trajectory.svg", "report.html"}
    page = (tmp_path / "sweep" / "report.html").read_text()
    for s in STEPS:  # the sweep's page links each checkpoint's own page, which exists
        assert f'href="checkpoint-{s}/report.html"' in page and (tmp_path / "sweep" / f"checkpoint-{s}" / "report.html").is_file()
    # Each run folder is exactly what `score` writes for that checkpoint.
    ckpt = run_folder / "checkpoint-20"
    alone = score(ScoreConfig.build(str(setup.base), str(ckpt), setup.new_task, **OPTIONS), store=store, out=tmp_path / "alone")
    swept = tmp_path / "sweep" / "checkpoint-20"
    for name in ("items.parquet", "kl.parquet"):
        assert (swept / name).read_bytes() == (alone.folder / name).read_bytes()
    assert alone.report is not None and alone.report.ckpt.adapter is not None
    # Run again: nothing to do, same numbers.
    again = sweep(setup, [str(run_folder)], store=store, out=tmp_path / "sweep")
    assert again.ran == [] and again.reused == out.ran and again.usage is not None and again.usage.loads == {}
    pd.testing.assert_frame_equal(
        _numbers(tmp_path / "sweep"), pd.DataFrame([p.__dict__ for p in out.points]).drop(columns="folder")
    )
    # Other settings are another sweep: refused in this folder, not mixed in.
    other = ScoreConfig.build(str(setup.base), str(setup.base), setup.new_task, **{**OPTIONS, "n_prompts": 2})
    with pytest.raises(UserInputError, match="another set of settings"):
        sweep(other, [str(run_folder)], store=store, out=tmp_path / "sweep")


def test_shards_share_a_sweep_folder_and_collect_assembles_them(setup, run_folder, tmp_path):
    store = Store(tmp_path / "store")
    first = sweep(setup, [str(run_folder)], store=store, out=tmp_path / "sweep", shard=parse_shard("0/2"))
    assert first.ran == ["checkpoint-5", "checkpoint-20"] and first.missing == ["checkpoint-10", "checkpoint-40"]
    sweep(setup, [str(run_folder)], store=store, out=tmp_path / "sweep", shard=parse_shard("1/2"))
    whole = collect(tmp_path / "sweep", to=tmp_path / "board.csv")
    assert [p.step for p in whole.points] == list(STEPS) and whole.missing == []
    board = pd.read_csv(tmp_path / "board.csv")
    assert len(board) == 4 and set(board["label"]) == {"sweep"}


@pytest.mark.parametrize("text", ["2/2", "1", "a/b", "-1/3"])
def test_a_bad_shard_is_refused(text):
    with pytest.raises(UserInputError, match="--shard"):
        parse_shard(text)


def test_bad_checkpoints_stop_the_sweep_before_any_compute(setup, run_folder, tmp_path, tiny_model):
    import shutil

    run = Path(shutil.copytree(run_folder, tmp_path / "run"))
    (run / "checkpoint-40" / "adapter_model.safetensors").unlink()  # still being written
    with pytest.raises(ModelSpecError, match="checkpoint-40: adapter weights missing"):
        sweep(setup, [str(run)], store=Store(tmp_path / "store"), out=tmp_path / "sweep")
    assert list((tmp_path / "sweep").iterdir()) == []  # no checkpoint was run, and no sweep.json pins this list
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelSpecError, match="empty"):
        sweep(setup, [str(tmp_path / "empty")], store=Store(tmp_path / "store"), out=tmp_path / "sweep2")
    with pytest.raises(ModelSpecError, match="named twice"):
        sweep(setup, [str(run_folder), str(run_folder / "checkpoint-5")], store=Store(tmp_path / "store"), out=tmp_path / "s3")


@pytest.mark.parametrize(
    ("change", "needle"),
    [({"r": 0}, "r is 0; a LoRA rank"), ({"r": 8}, "are of rank 4, but adapter_config.json r is 8"),
     ({"lora_alpha": -16}, "lora_alpha is -16"), ({"rank_pattern": {"q_proj": 2}}, r"rank_pattern\['q_proj'\] is 2")],
)  # fmt: skip
def test_a_broken_adapter_config_in_the_last_checkpoint_stops_the_sweep_before_anything_is_written(
    setup, run_folder, tmp_path, change, needle
):
    """The sweep resolves and validates every checkpoint (config and tensors) before computing or writing:
    no sweep.json, no checkpoint folder, no store entry. Also when the bad one is another shard's."""
    import shutil

    run = Path(shutil.copytree(run_folder, tmp_path / "run"))
    cfg_path = run / "checkpoint-40" / "adapter_config.json"
    cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()), **change}))
    store = Store(tmp_path / "store")
    for shard in (None, parse_shard("0/2")):  # checkpoint-40 is shard 1's: shard 0 refuses it too
        with pytest.raises(ModelSpecError, match=f"checkpoint-40: .*{needle}"):
            sweep(setup, [str(run)], store=store, out=tmp_path / "sweep", shard=shard)
        assert [p for p in (tmp_path / "sweep").rglob("*")] == []  # no sweep.json, no checkpoint folder
        assert [p for p in store.root.rglob("*") if p.is_file()] == []  # no store entry


def test_unstepped_and_duplicate_checkpoints_stop_the_sweep_with_one_line(setup, run_folder, tmp_path):
    import shutil

    run = Path(shutil.copytree(run_folder, tmp_path / "run"))
    shutil.copytree(run / "checkpoint-5", run / "checkpoint-final")
    with pytest.raises(ModelSpecError, match="checkpoint-final is not checkpoint-<step>"):
        sweep(setup, [str(run)], store=Store(tmp_path / "store"), out=tmp_path / "sweep")
    shutil.move(run / "checkpoint-final", run / "checkpoint-05")
    with pytest.raises(ModelSpecError, match="checkpoint-05 and checkpoint-5 are both step 5"):
        sweep(setup, [str(run)], store=Store(tmp_path / "store"), out=tmp_path / "sweep")
    assert not (tmp_path / "sweep").exists()


def _cli_sweep(setup, run: Path, store: Path, out: Path) -> subprocess.Popen:
    args = ["sweep", str(setup.base), str(run), "--new-task", setup.new_task, "--store", str(store), "--out", str(out)]
    for key, value in OPTIONS.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    log = open(out.parent / f"{out.name}.log", "a")  # noqa: SIM115  (a file, not a pipe: a full pipe would stall the run)
    return subprocess.Popen([sys.executable, "-m", "forgetbench.cli", *args], stdout=log, stderr=log, start_new_session=True)


def _finish(proc: subprocess.Popen, out: Path) -> str:
    code = proc.wait(timeout=600)
    log = (out.parent / f"{out.name}.log").read_text()
    assert code == 0, log[-2000:]
    return log


def test_a_killed_sweep_resumes_with_the_numbers_of_an_uninterrupted_one(setup, run_folder, tmp_path):
    killed = _cli_sweep(setup, run_folder, tmp_path / "store-a", tmp_path / "a")
    first = tmp_path / "a" / "checkpoint-5" / "report.json"
    deadline = time.time() + 600
    while not first.is_file() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert first.is_file(), (tmp_path / "a.log").read_text()[-2000:]
    os.killpg(killed.pid, signal.SIGKILL)  # kill -9, mid-way through the run
    killed.wait()
    assert not (tmp_path / "a" / "trajectory.csv").exists()
    log = _finish(_cli_sweep(setup, run_folder, tmp_path / "store-a", tmp_path / "a"), tmp_path / "a")
    assert "already finished in the sweep folder" in log
    _finish(_cli_sweep(setup, run_folder, tmp_path / "store-b", tmp_path / "b"), tmp_path / "b")
    pd.testing.assert_frame_equal(_numbers(tmp_path / "a"), _numbers(tmp_path / "b"))
