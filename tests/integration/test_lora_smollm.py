"""A real LoRA training run: SmolLM2-135M trained for a few steps with peft (`pipeline.demo.ensure_lora_run`,
cached in the test home and shared with the vLLM stage). `score_lora` scores its last checkpoint (the
vLLM stage's test); `test_kl_smollm` scores it on the transformers backend."""

from __future__ import annotations

import pytest

from forgetbench.core.progress import Reporter
from forgetbench.pipeline.demo import ensure_lora_run
from tests.command import fb_json

pytestmark = pytest.mark.integration
LEAN = ["--new-task", "fb_asdiv_heldout_lite", "--suite", "task:fb_piqa_lite", "--limit", "8", "--n-prompts", "6",
        "--max-new-tokens", "24", "--noise-floor-prompts", "2", "--old-task-prompts", "8"]  # fmt: skip


def score_lora(backend: str, tmp_path, *extra: str) -> dict:
    """`score smollm2-135m RUN/checkpoint-8` (lean sizes) on `backend`; the report as JSON."""
    run = ensure_lora_run(Reporter())
    ckpt = run / "checkpoint-8"
    args = ["score", "smollm2-135m", str(ckpt), *LEAN, *extra, "--backend", backend, "--store", str(tmp_path / "store"),
            "--out", str(tmp_path / backend)]  # fmt: skip
    return fb_json(*args, timeout=1800)


def test_a_training_run_leaves_four_adapter_checkpoints():
    run = ensure_lora_run(Reporter())
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4", "checkpoint-6", "checkpoint-8"]
    assert all(
        (p / "adapter_config.json").is_file() and (p / "adapter_model.safetensors").is_file() for p in run.glob("checkpoint-*")
    )
