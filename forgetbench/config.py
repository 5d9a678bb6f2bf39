"""Typed run configurations, built by the CLI (or a Python caller) and passed down unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VLLMOptions:
    """Engine options passed through to `vllm.LLM` when `backend == "vllm"` (ignored by `hf`)."""

    tensor_parallel_size: int = 1
    """GPUs one engine is sharded over."""
    gpu_memory_utilization: float | None = None
    """Fraction of accelerator memory the engine may reserve (weights + KV cache). None: vLLM's own
    default on GPU; on CPU, where vLLM reserves this fraction of the NUMA node's RAM up front, the
    fraction that makes 4 GiB (`backends.vllm.cpu_memory_fraction`)."""
    max_model_len: int | None = None
    """Longest sequence the engine accepts. None: for KL, the longest prompt + max_new_tokens; for a
    suite, the model's own limit."""
    enforce_eager: bool | None = None
    """Skip CUDA graphs / torch.compile. None: True on CPU (compilation costs minutes there), False on GPU."""


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
    vllm: VLLMOptions = field(default_factory=VLLMOptions)
    """Engine options for `backend == "vllm"`."""


@dataclass(frozen=True)
class KLConfig:
    """One KL measurement between a base and a checkpoint on new-task prompts."""

    base: str
    """Base model spec (π₀)."""
    ckpt: str
    """Checkpoint model spec (π)."""
    prompts: str | None = None
    """JSONL/CSV/Parquet file of prompts (exactly one of `prompts` and `task`)."""
    task: str | None = None
    """lm-eval task whose rendered inputs are the prompts."""
    prompt_field: str = "prompt"
    """Column holding the prompt text in a prompts file."""
    n_prompts: int = 256
    """Prompts used (a seeded subsample when the source has more)."""
    samples_per_prompt: int = 1
    """Responses sampled per prompt."""
    max_new_tokens: int = 256
    """Longest response; sampling stops earlier at EOS."""
    estimators: tuple[str, ...] = ("full", "k1", "k3")
    """Estimators reported (`full`, `k1`, `k3`); the first is the headline number."""
    direction: str = "forward"
    """`forward`: KL(π₀‖π), responses from the base (the paper's). `reverse`: KL(π‖π₀), from the checkpoint."""
    seed: int = 0
    """Seed of prompt choice, sampling and bootstrap."""
    chat_template: bool = True
    """Render prompts as a user turn with the tokenizer's chat template, when it has one."""
    noise_floor_prompts: int = 32
    """Prompts on which the noise floor (checkpoint replaced by a second copy of the sampler) is measured; 0 skips it."""
    backend: str = "hf"
    """`hf` (transformers) or `vllm` (sampling and k1/k3 log-probs in vLLM engines)."""
    full_scorer: str = "hf"
    """Who computes `full` under `backend == "vllm"`: `hf` (the chunked transformers scorer on vLLM's
    samples; the default because it is far faster, see README) or `vllm` (full-vocabulary prompt log-probs)."""
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 16
    """Sequences per sampling batch (scoring uses half)."""
    trust_remote_code: bool = False
    vllm: VLLMOptions = field(default_factory=VLLMOptions)
    """Engine options for `backend == "vllm"`."""


@dataclass(frozen=True)
class ScoreConfig:
    """`forgetbench score`: retention on a suite and KL on a new task, base vs checkpoint."""

    base: str
    ckpt: str
    new_task: str
    """Prompts file (JSONL/CSV/Parquet) or an lm-eval task name (`task:` prefix optional)."""
    suite: str = "offline-lite"
    limit: int | None = None
    prompt_field: str = "prompt"
    n_prompts: int = 256
    samples_per_prompt: int = 1
    max_new_tokens: int = 256
    estimators: tuple[str, ...] = ("full", "k1", "k3")
    seed: int = 0
    chat_template: bool = True
    """For the KL prompts (the prior suite runs without a chat template, as lm-eval does by default)."""
    noise_floor_prompts: int = 32
    backend: str = "hf"
    """Backend of both the suite runs and the KL measurement (never mixed within one comparison)."""
    full_scorer: str = "hf"
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 16
    allow_code_execution: bool = False
    trust_remote_code: bool = False
    vllm: VLLMOptions = field(default_factory=VLLMOptions)
    law: str | None = None
    """Leaderboard CSV: predict forgetting from the measured KL by the law fitted on its rows of the same
    base and suite (this checkpoint's own row left out)."""


@dataclass(frozen=True)
class GatePolicy:
    """A release policy (a TOML file; `forgetbench.gate.load_policy`). Drops are base − ckpt in points."""

    max_task_drop: float | None = None
    """Largest allowed drop on any one task."""
    task_drop: dict = field(default_factory=dict)
    """Per-task limits overriding `max_task_drop` ({task name: points})."""
    max_aggregate_drop: float | None = None
    """Largest allowed forgetting F (mean drop over the suite's tasks)."""
    max_kl: float | None = None
    """Largest allowed forward KL on the new task, nats per sequence (the report's headline estimator)."""
    mode: str = "non-inferiority"
    """`non-inferiority`: a rule passes only if its one-sided bound shows the value below the limit.
    `significant-drop`: a rule fails only if the value is significantly above the limit."""
    alpha: float = 0.05
    """Significance level."""
    correction: str = "holm"
    """Across the task rules: `holm`, `bonferroni` or `none`."""
    n_boot: int = 10000
    """Bootstrap replicates per rule."""
    seed: int = 0
    """Seed of the bootstraps."""

    @property
    def kl_only(self) -> bool:
        """Only the KL rule: `score --gate` can skip the benchmark runs."""
        return self.max_kl is not None and self.max_task_drop is None and not self.task_drop and self.max_aggregate_drop is None
