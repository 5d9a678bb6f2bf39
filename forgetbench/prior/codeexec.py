"""Run untrusted, model-generated Python programs in a limited subprocess.

This is containment "safely-ish", not a security sandbox: the program runs as the same user, in a
fresh temporary directory, with a minimal environment, Python's isolated mode (`-I`), and POSIX
resource limits (address space, CPU seconds, file size, and no new processes for non-root users).
A wall-clock timeout kills the program's whole process group. Linux is the target platform.

Pure standard library, so it can be used from lm-eval task helpers without heavy imports.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_FSIZE_BYTES = 10 * 2**20  # largest file the program may write (its captured output included)
_DETAIL_CHARS = 2000  # how much of the program's stderr is kept in ExecResult.detail
_PROGRAM_NAME = "program.py"


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one program run.

    Attributes:
        passed: True iff the program exited with status 0 within its limits.
        status: "passed" (exit 0); "failed" (the program ran and exited non-zero or was killed by a
            signal: failed assertion, exception, syntax error, memory limit); "timeout" (the
            wall-clock or CPU-time limit was reached); "error" (the program could not be started).
        detail: Human-readable explanation: empty when passed, otherwise the tail of the program's
            stderr, the signal that killed it, or why it could not run.
    """

    passed: bool
    status: str
    detail: str


def _lower_limit(which: int, value: int) -> None:
    """Set soft and hard limit `which` to `value`, never above the current hard limit."""
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _limits(timeout_s: float, memory_mb: int) -> Callable[[], None]:
    """A `preexec_fn` that applies the resource limits in the child before exec."""

    def apply() -> None:
        _lower_limit(resource.RLIMIT_AS, memory_mb * 2**20)
        _lower_limit(resource.RLIMIT_CPU, math.ceil(timeout_s) + 1)
        _lower_limit(resource.RLIMIT_FSIZE, _FSIZE_BYTES)
        _lower_limit(resource.RLIMIT_CORE, 0)
        # No fork/threads for unprivileged users (root is exempt from RLIMIT_NPROC by the kernel).
        if os.getuid() != 0:
            _lower_limit(resource.RLIMIT_NPROC, 0)

    return apply


def _kill_group(pid: int) -> None:
    """SIGKILL the process group led by `pid`, ignoring a group that is already gone."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path) -> str:
    """The last characters of a captured output file ("" when absent)."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-_DETAIL_CHARS:].decode("utf-8", errors="replace").strip()


def run_program(source: str, *, timeout_s: float = 10.0, memory_mb: int = 512) -> ExecResult:
    """Run `source` as a Python program under limits and report whether it exited with status 0.

    The program gets a fresh temporary directory as cwd, HOME and TMPDIR, an environment with only
    PATH and locale, no stdin, `timeout_s` seconds of wall-clock time (CPU time capped at the next
    whole second plus one) and `memory_mb` MiB of address space. On timeout its whole process group
    is killed. Never raises because of what the program does; the temp dir is always removed.
    """
    workdir = Path(tempfile.mkdtemp(prefix="forgetbench-exec-"))
    try:
        program = workdir / _PROGRAM_NAME
        program.write_text(source, encoding="utf-8")
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        # Output goes to files (bounded by RLIMIT_FSIZE), never to unbounded pipes.
        with open(workdir / "stdout", "wb") as out, open(workdir / "stderr", "wb") as err:
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", _PROGRAM_NAME],
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    preexec_fn=_limits(timeout_s, memory_mb),
                )
            except (OSError, subprocess.SubprocessError) as exc:
                return ExecResult(False, "error", f"could not start the program: {exc}")
            try:
                returncode = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait()
                return ExecResult(False, "timeout", f"wall-clock limit of {timeout_s:g} s reached")
            finally:
                _kill_group(proc.pid)  # stray children of a finished program
        if returncode == 0:
            return ExecResult(True, "passed", "")
        if returncode == -signal.SIGXCPU:
            return ExecResult(False, "timeout", f"CPU-time limit of {math.ceil(timeout_s) + 1} s reached")
        stderr = _tail(workdir / "stderr")
        if returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
            return ExecResult(False, "failed", f"killed by {name}" + (f": {stderr}" if stderr else ""))
        return ExecResult(False, "failed", stderr or f"exit status {returncode}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def humaneval_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """The HumanEval check program: prompt and completion, then the test code calling `check`."""
    return prompt + completion + "\n\n" + test + "\n\ncheck(" + entry_point + ")\n"
