"""Typed run configurations, built by the CLI (or a Python caller) and passed down unchanged."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalConfig:
    """One prior-capability evaluation: a model on a suite."""

    model: str
    """Model spec: embedded name, HF folder, GGUF file or hub id `org/name[@rev]`."""
    suite: str = "offline-lite"
    """Suite name (an lm-eval group in `tasks/` marked `forgetbench_suite`)."""
    limit: int | None = None
    """Evaluate only the first N items of each task (None: all)."""
    backend: str = "hf"
    """Model backend."""
    device: str = "auto"
    """`cpu`, `cuda`, or `auto` (cuda when visible)."""
    dtype: str = "auto"
    """`auto` (float32 on CPU, bfloat16 on GPU), `float32`, `bfloat16`, `float16`."""
    batch_size: int = 16
    """lm-eval batch size."""
    num_fewshot: int | None = None
    """Override every task's few-shot count (None: each task's own)."""
    chat_template: bool = False
    """Render prompts with the model's chat template."""
    allow_code_execution: bool = False
    """Allow tasks that run model-generated code (in a limited subprocess)."""
    trust_remote_code: bool = False
    """Allow the model's own Python code to run."""
