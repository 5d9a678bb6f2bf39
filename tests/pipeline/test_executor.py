"""`forgetbench sweep --executor ray` on a **real local Ray cluster** (started by the command: `ray.init` on
this machine's cores), three checkpoints of tiny models: the store it fills is byte-identical to a local
sweep's and the reports hold the same numbers; a Ray worker killed (by PID) in the middle of a job is
retried and the numbers still hold; a failing job is one line naming it; no Ray installed is exit 2."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.cli.test_cli import _assert_one_line_error
from tests.command import fb
from tests.memorised import write_prompts
from tests.tiny import make_tiny_model

pytestmark = pytest.mark.skipif(find_spec("ray") is None, reason="the ray extra (pip install -e '.[ray]'; CI installs it)")

LEAN = ["--suite", "task:fb_piqa_lite", "--limit", "4", "--n-prompts", "4", "--max-new-tokens", "8",
        "--noise-floor-prompts", "2", "--batch-size", "8"]  # fmt: skip


@pytest.fixture(scope="module")
def training_run(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ray-run")
    base = make_tiny_model(root / "base", seed=0)
    for step in (1, 2, 3):
        make_tiny_model(root / "run" / f"checkpoint-{step}", seed=step)
    return {"base": base, "run": root / "run", "prompts": write_prompts(root / "prompts.jsonl")}


def sweep_args(run: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["sweep", str(run["base"]), str(run["run"]), "--new-task", str(run["prompts"]), *LEAN,
            "--store", str(out / "store"), "--out", str(out / "sweep"), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def local(training_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local")
    proc = fb(*sweep_args(training_run, out))
    assert proc.returncode == 0, proc.stderr
    return out


def _store(out: Path) -> dict[str, str]:
    root = out / "store"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".locks" not in p.parts}  # fmt: skip


def _numbers(out: Path) -> list[dict]:
    with open(out / "sweep" / "trajectory.csv") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: v for k, v in r.items() if k != "folder"} for r in rows]


def test_a_ray_sweep_fills_the_store_and_reports_of_a_local_one(training_run, local, tmp_path):
    proc = fb(*sweep_args(training_run, tmp_path, "--executor", "ray"))
    assert proc.returncode == 0, proc.stderr
    # 4 evaluations × 2 files, the new-task samples and the old-task ones (the predictors' `_old` part)
    assert _store(tmp_path) == _store(local) and len(_store(local)) == 10
    assert _numbers(tmp_path) == _numbers(local) and len(_numbers(local)) == 3
    assert "Ray: 12 jobs" in proc.stdout  # 4 evaluations (base + 3 checkpoints), 2 samplings, 3 × 2 KL scorings
    import json
    from dataclasses import asdict

    from forgetbench.runs import load_report

    for run in ("checkpoint-1", "checkpoint-3"):  # every predictor, the _old ones too, as the local sweep measured it
        got, want = (load_report(root / "sweep" / run).kl for root in (tmp_path, local))
        assert got is not None and want is not None and len(want.predictors) == 12 and want.old_task_prompts > 0
        assert json.dumps([asdict(p) for p in got.predictors]) == json.dumps([asdict(p) for p in want.predictors])


def test_score_on_ray_reports_what_the_local_sweep_did_for_that_checkpoint(training_run, local, tmp_path):
    from forgetbench.runs import load_report

    ckpt = training_run["run"] / "checkpoint-2"
    proc = fb("score", str(training_run["base"]), str(ckpt), "--new-task", str(training_run["prompts"]), *LEAN,
              "--store", str(tmp_path / "store"), "--out", str(tmp_path / "run"), "--executor", "ray")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got, want = load_report(tmp_path / "run"), load_report(local / "sweep" / "checkpoint-2")
    assert got.retention == want.retention and got.kl is not None and want.kl is not None
    assert got.kl.estimates == want.kl.estimates and got.kl.noise_floor == want.kl.noise_floor


def _job_pids() -> list[int]:
    """Ray workers executing a job now (Ray titles such a process `ray::<job name>`: eval, sample, kl)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith((b"ray::eval ", b"ray::sample ", b"ray::kl ")):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_a_killed_ray_worker_is_retried_and_the_numbers_hold(training_run, local, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "forgetbench.cli", *sweep_args(training_run, tmp_path, "--executor", "ray")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    killed, deadline = None, time.time() + 240
    while killed is None and proc.poll() is None and time.time() < deadline:
        pids = _job_pids()
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.02)
    _, err = proc.communicate(timeout=600)
    assert killed is not None, "no Ray job was seen running"
    assert proc.returncode == 0, err
    assert _numbers(tmp_path) == _numbers(local) and _store(tmp_path) == _store(local)


def test_a_failing_job_is_one_line_naming_it(training_run, tmp_path):
    """A checkpoint with NaN weights: its evaluation job fails on the cluster; the sweep stops with one line
    naming the job (exit 3, as the local run's NaN error), and the jobs that finished stay in the store."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    shutil.copytree(training_run["run"], run)
    weights = run / "checkpoint-2" / "model.safetensors"
    tensors = {k: torch.full_like(v, float("nan")) for k, v in load_file(weights).items()}
    save_file(tensors, weights)
    proc = fb(*sweep_args({**training_run, "run": run}, tmp_path, "--executor", "ray"))
    _assert_one_line_error(proc, 3, "checkpoint-2")
    assert "NaN" in proc.stderr  # said as the local run says it, prefixed by the job's name
    assert any((tmp_path / "store").rglob("result.json"))  # the base's evaluation, at least, was kept


def test_executor_ray_without_ray_is_exit_2_with_the_install_line(training_run, tmp_path):
    blocker = tmp_path / "noray" / "ray"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('ray is not installed')\n")
    proc = fb(*sweep_args(training_run, tmp_path, "--executor", "ray"), env={"PYTHONPATH": str(blocker.parent)})
    _assert_one_line_error(proc, 2, "pip install 'forgetbench[ray]'")
    assert not (tmp_path / "sweep").exists()


def test_ctrl_c_cancels_the_jobs_and_exits_130(training_run, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "forgetbench.cli", *sweep_args(training_run, tmp_path, "--executor", "ray")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 240
    while not _job_pids() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    time.sleep(2)
    assert not _job_pids()  # the local cluster was stopped with its jobs
    assert not list((tmp_path / "sweep").glob("checkpoint-*/report.json"))
