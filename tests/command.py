"""forgetbench's command line run in a subprocess, as a user runs it: `fb(...)` for the finished process,
`fb_json(...)` for the parsed `--json` output of a command that must succeed.

The child inherits this process's environment, which tests/conftest.py has made offline (HF_HUB_OFFLINE,
HF_DATASETS_OFFLINE) with FORGETBENCH_HOME set to the test home (FORGETBENCH_TEST_HOME when given);
`env` adds or overrides variables for one call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def fb(*args: str, env: dict[str, str] | None = None, timeout: float = 600, **run: Any) -> subprocess.CompletedProcess:
    """`forgetbench ARGS...` (python -m forgetbench.cli) with text stdout and stderr captured; `run` passes on
    to subprocess.run (cwd, ...)."""
    return subprocess.run(
        [sys.executable, "-m", "forgetbench.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        **run,
    )


def fb_json(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> Any:
    """`forgetbench ARGS... --json`, which must exit 0 (else the test fails on its stderr's tail); its stdout parsed."""
    proc = fb(*args, "--json", env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)
