"""A run folder is written whole or not at all: a full disk under `--out` leaves no half-written folder (and
an existing one as it was), with one line naming the file, exit 3. The full disk is real — RLIMIT_FSIZE in
the command's process makes the kernel refuse the write (EFBIG; SIGXFSZ ignored) — no monkeypatching."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest

from forgetbench.core.errors import WriteError
from forgetbench.kl.run import KLRun
from forgetbench.pipeline.run_folder import write_kl
from forgetbench.runs import RunFolder, load_report
from tests.cli.test_cli import _assert_one_line_error, _snapshot
from tests.memorised import LIMIT


def _disk_full_after(nbytes: int):
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return limit


def _score(score_runs, ckpt, out, nbytes: int) -> subprocess.CompletedProcess:
    """`forgetbench score` of the fixture's barely-changed run again (every result in its store), writing
    `out` on a disk that holds at most `nbytes` per file."""
    args = [str(score_runs["base"]), str(ckpt), "--new-task", str(score_runs["prompts"])]
    return subprocess.run(
        [sys.executable, "-m", "forgetbench.cli", "score", *args, "--suite", "mem", "--limit", str(LIMIT), "--n-prompts", "4",
         "--max-new-tokens", "8", "--batch-size", "8", "--noise-floor-prompts", "0", "--store", str(score_runs["store"]),
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, preexec_fn=_disk_full_after(nbytes),
        env={**os.environ, "FORGETBENCH_TASKS_DIR": str(score_runs["tasks"]), "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


ROOM = 4096
"""Bytes per file the full disk takes: less than a run's items.parquet, so the run's write is refused."""


def test_a_full_disk_under_out_leaves_no_run_folder_and_names_the_file(score_runs, memorised_models, tmp_path):
    out = tmp_path / "runs" / "new"
    proc = _score(score_runs, memorised_models["barely"], out, ROOM)
    _assert_one_line_error(proc, 3, f"cannot write {out / 'items.parquet'}: File too large")
    assert "was not created" in proc.stderr
    assert not out.exists() and list((tmp_path / "runs").iterdir()) == []  # not even items.parquet, no temporary


def test_a_full_disk_leaves_the_earlier_run_in_that_folder_as_it_was(score_runs, memorised_models, tmp_path):
    out = shutil.copytree(score_runs["damaged"], tmp_path / "run")  # an earlier run in the same --out
    before = _snapshot(tmp_path)
    proc = _score(score_runs, memorised_models["barely"], out, ROOM)
    _assert_one_line_error(proc, 3, f"cannot write {out / 'items.parquet'}: File too large")
    assert _snapshot(tmp_path) == before and load_report(out).ckpt.spec == load_report(score_runs["damaged"]).ckpt.spec


def test_rerunning_into_a_folder_replaces_it_whole(score_runs, memorised_models, tmp_path):
    out = shutil.copytree(score_runs["damaged"], tmp_path / "run")
    (out / "notes.txt").write_text("mine")
    proc = _score(score_runs, memorised_models["barely"], out, resource.RLIM_INFINITY)
    assert proc.returncode == 0, proc.stderr
    assert load_report(out).ckpt.spec == load_report(score_runs["barely"]).ckpt.spec and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_a_kl_run_folder_is_written_whole_too(score_runs, tmp_path):
    report = load_report(score_runs["barely"])
    run = KLRun(report.kl, RunFolder(score_runs["barely"]).rows()[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, hard))
    try:
        with pytest.raises(WriteError) as info:
            write_kl(run, tmp_path / "kl")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert info.value.exit_code == 3 and f"cannot write {tmp_path / 'kl'}/" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_run_of_another_kind_in_the_folder_is_refused_before_anything_runs(score_runs, memorised_models, tmp_path):
    """A rerun replaces a folder's run files: a `kl` run into a `score` folder would remove its report, so it is
    refused (exit 2, one line) and the folder is left as it was; the other way round too."""
    out = shutil.copytree(score_runs["barely"], tmp_path / "run")
    before = _snapshot(tmp_path)
    args = [str(score_runs["base"]), str(memorised_models["barely"]), "--prompts", str(score_runs["prompts"]), "--n-prompts", "2",
            "--max-new-tokens", "4", "--noise-floor-prompts", "0", "--store", str(score_runs["store"]), "--out", str(out)]  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "forgetbench.cli", "kl", *args], capture_output=True, text=True, timeout=600)
    _assert_one_line_error(proc, 2, f"run folder {out} holds a score run (report.json)")
    assert _snapshot(tmp_path) == before
    kl_folder = tmp_path / "kl"
    kl_folder.mkdir()
    (kl_folder / "kl.json").write_text("{}")
    from forgetbench.core.errors import UserInputError

    with pytest.raises(UserInputError, match="holds a kl run"):
        RunFolder(kl_folder).prepare("score")
    assert RunFolder(out).prepare("score").path == out and RunFolder(kl_folder).prepare("kl").path == kl_folder
