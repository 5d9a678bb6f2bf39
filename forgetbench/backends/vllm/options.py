"""`VLLMOptions`: the vllm backend's own options, passed through to `vllm.LLM` (its command-line flags,
under "vLLM engine" in --help)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, get_args

from forgetbench.backends.base import BackendOptions
from forgetbench.core.config import check_choice, check_count, check_fraction
from forgetbench.core.errors import UserInputError

FullScorer = Literal["hf", "vllm"]
"""Who computes `full` under the vllm backend: the chunked transformers scorer or vLLM's prompt log-probs."""
FULL_SCORERS: tuple[str, ...] = get_args(FullScorer)

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The `max_lora_rank` values vLLM accepts."""


@dataclass(frozen=True)
class VLLMOptions(BackendOptions):
    """Engine options passed through to `vllm.LLM` (`process.engine_kwargs`)."""

    panel: ClassVar[str] = "vLLM engine"
    settings_key: ClassVar[str] = "vllm"

    tensor_parallel_size: int = field(default=1, metadata={"help": "vLLM: GPUs per engine."})
    """GPUs one engine is sharded over."""
    gpu_memory_utilization: float | None = field(
        default=None,
        metadata={"help": "vLLM: memory fraction an engine may reserve \\[default: vLLM's on GPU, 4 GiB's worth on CPU]."},
    )
    """Fraction of accelerator memory the engine may reserve (weights + KV cache). None: vLLM's own
    default on GPU; on CPU, where vLLM reserves this fraction of the NUMA node's RAM up front, the
    fraction that makes 4 GiB (`process.cpu_memory_fraction`)."""
    max_model_len: int | None = field(
        default=None, metadata={"help": "vLLM: longest sequence \\[default: what the job needs / the model's limit]."}
    )
    """Longest sequence the engine accepts. None: for KL, the longest prompt + max_new_tokens; for a
    suite, the model's own limit."""
    max_lora_rank: int | None = field(
        default=None,
        metadata={"help": "vLLM: largest LoRA rank the adapters' engine serves \\[default: the smallest covering the adapters]."},
    )
    """Largest LoRA rank the engine serving adapters accepts (one of `LORA_RANKS`). None: the smallest of
    those covering the adapters' ranks."""
    enforce_eager: bool | None = field(
        default=None, metadata={"help": "vLLM: skip CUDA graphs and compilation \\[default: on for CPU, off for GPU]."}
    )
    """Skip CUDA graphs / torch.compile. None: True on CPU (compilation costs minutes there), False on GPU."""
    full_scorer: FullScorer = field(
        default="hf",
        metadata={
            "help": "With --backend vllm: who computes `full`, hf (fast) or vllm (full-vocab prompt log-probs).",
            "kl": True,
        },
    )
    """Who computes the `full` KL estimator: `hf` (the chunked transformers scorer on vLLM's samples;
    the default because it is far faster, docs/vllm.md) or `vllm` (full-vocabulary prompt log-probs)."""

    def __post_init__(self) -> None:
        check_count("--tensor-parallel-size", self.tensor_parallel_size)
        if self.gpu_memory_utilization is not None:
            check_fraction("--gpu-memory-utilization", self.gpu_memory_utilization)
        if self.max_model_len is not None:
            check_count("--max-model-len", self.max_model_len, 2)
        check_choice("--full-scorer", self.full_scorer, FULL_SCORERS)
        if self.max_lora_rank is not None and self.max_lora_rank not in LORA_RANKS:
            ranks = ", ".join(map(str, LORA_RANKS))
            raise UserInputError(f"--max-lora-rank must be one of {ranks} (got {self.max_lora_rank!r})")

    def gpus_per_job(self) -> int:
        return self.tensor_parallel_size
