"""Fixtures of the real-model integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.command import fb

LORA_SCORE_LIMIT = 4
"""Items per prior task of the lean SmolLM2 LoRA score run."""


@pytest.fixture(scope="session")
def lora_score(tmp_path_factory) -> tuple[Path, str]:
    """`forgetbench score smollm2-135m RUN/checkpoint-8` on the transformers backend, lean (4 items per
    task of offline-lite-no-asdiv, 4 KL prompts, the new task's own 40 items): the run folder and stdout."""
    from forgetbench.core.progress import Reporter
    from forgetbench.pipeline.demo import ensure_lora_run

    ckpt = ensure_lora_run(Reporter()) / "checkpoint-8"
    tmp = tmp_path_factory.mktemp("lora-score")
    args = ["score", "smollm2-135m", str(ckpt), "--new-task", "task:fb_asdiv_heldout_lite", "--suite", "offline-lite-no-asdiv",
            "--limit", str(LORA_SCORE_LIMIT), "--n-prompts", "4", "--max-new-tokens", "16", "--noise-floor-prompts", "2",
            "--old-task-prompts", "8", "--store", str(tmp / "store"), "--out", str(tmp / "run")]  # fmt: skip
    proc = fb(*args, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "run", proc.stdout
