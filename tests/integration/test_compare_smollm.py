"""`forgetbench compare` on real lm-eval logs of the real model: lm-eval's own CLI (`lm_eval --model hf
... --log_samples`) on SmolLM2-135M and on the real LoRA checkpoint (lm-eval applies it itself, with
`peft=`), for two lite tasks at the lean score run's limit; compared, they give the per-task Δ, flips,
intervals, p-values and task hashes of `forgetbench score` on the same items, and `--kl` joins that run's
KL with the real fingerprints (the adapter matched by its path)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from forgetbench.core.progress import Reporter
from forgetbench.models import embedded
from forgetbench.pipeline.demo import ensure_lora_run
from forgetbench.prior.suites import tasks_dir
from forgetbench.runs import load_report
from tests.integration.conftest import LORA_SCORE_LIMIT

pytestmark = pytest.mark.integration
TASKS = ("fb_piqa_lite", "fb_boolq_lite")


def lm_eval(model_args: str, out) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", model_args, "--tasks", ",".join(TASKS),
         "--include_path", str(tasks_dir() / "offline"), "--limit", str(LORA_SCORE_LIMIT), "--batch_size", "8",
         "--device", "cpu", "--log_samples", "--output_path", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_compare_of_lm_evals_own_logs_equals_score_on_the_same_items(lora_score, tmp_path):
    run, _ = lora_score
    base = embedded.ensure("smollm2-135m")
    adapter = ensure_lora_run(Reporter()) / "checkpoint-8"
    lm_eval(f"pretrained={base},dtype=float32", tmp_path / "base")
    lm_eval(f"pretrained={base},peft={adapter},dtype=float32", tmp_path / "ckpt")
    proc = subprocess.run(
        [sys.executable, "-m", "forgetbench.cli", "compare", str(tmp_path / "base"), str(tmp_path / "ckpt"), "--kl", str(run),
         "--out", str(tmp_path / "compare"), "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got, want = json.loads(proc.stdout), load_report(run)
    tasks = {t["task"]: t for t in got["retention"]["tasks"]}
    assert set(tasks) == set(TASKS)
    for t in (t for t in want.retention.tasks if t.task in TASKS):
        g = tasks[t.task]
        assert (g["n_items"], g["forgotten"], g["gained"], g["task_hash"]) == (t.n_items, t.forgotten, t.gained, t.task_hash)
        for name in ("base", "ckpt", "delta", "delta_low", "delta_high", "p_value"):  # Holm's p: 2 tasks here, 7 there
            assert g[name] == pytest.approx(getattr(t, name), rel=1e-12, abs=1e-12), (t.task, name)
    assert (got["base"]["fingerprint"], got["ckpt"]["fingerprint"]) == (want.base.fingerprint, want.ckpt.fingerprint)
    assert got["kl"]["estimates"] == [e.__dict__ for e in want.kl.estimates] and got["source"] == "lm-eval logs"
