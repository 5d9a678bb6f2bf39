"""`forgetbench clean`: abandoned temporaries and store namespaces of earlier versions go, the rest stays."""

from __future__ import annotations

import json
import subprocess
import sys

from forgetbench.kl.samples import NAMESPACE as SAMPLES
from forgetbench.prior.run import NAMESPACE as PRIOR


def test_clean_removes_what_killed_runs_and_old_versions_left(tmp_path):
    home, store = tmp_path / "home", tmp_path / "store"
    for ns in ("prior-v2", "kl-samples-v1", PRIOR, SAMPLES):
        (store / ns / "ab").mkdir(parents=True)
        (store / ns / "ab" / "entry.json").write_text(json.dumps({"ns": ns}))
    (store / PRIOR / "ab" / ".abcdef.x1.tmp").mkdir()  # a store entry whose writer was killed
    (home / "models" / ".gguf-0123.x2.tmp").mkdir(parents=True)  # a killed GGUF conversion
    (home / "models" / ".gguf-0123.x2.tmp" / "model.safetensors").write_bytes(b"x" * 4096)
    proc = subprocess.run(
        [sys.executable, "-m", "forgetbench.cli", "clean", "--store", str(store)],
        capture_output=True, text=True, env={"FORGETBENCH_HOME": str(home), "PATH": "/usr/bin:/bin"}, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "removed 2 abandoned temporaries and 2 stale store namespaces" in proc.stdout
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith(".")) == sorted([PRIOR, SAMPLES])
    assert not list(home.rglob("*.tmp")) and not list(store.rglob("*.tmp"))
    assert (store / PRIOR / "ab" / "entry.json").is_file()
