"""Typed, versioned results. Every field is documented; nothing is a dict with compound keys.

`SCHEMA_VERSION` changes whenever a field changes meaning or disappears.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModelInfo:
    """Which model was evaluated."""

    spec: str
    """The model spec as the user typed it (embedded name, path, GGUF file or hub id)."""
    kind: str
    """`embedded`, `dir`, `gguf` or `hub`."""
    path: str
    """Local Hugging Face folder that was loaded."""
    fingerprint: str
    """sha256 over config, tokenizer and weight digests: the model's identity in the store."""
    tokenizer_digest: str
    """sha256 of the tokenizer files alone (two models with equal digests share a tokenizer)."""


@dataclass(frozen=True)
class ItemOutcome:
    """One benchmark item's outcome under one model (the unit of pairing)."""

    task: str
    """lm-eval leaf task name."""
    doc_id: int
    """Index of the doc in the task's evaluation split (after any lite subsampling)."""
    doc_hash: str
    """lm-eval's sha256 of the doc's JSON: items are paired on (task, doc_id, doc_hash)."""
    score: float
    """Value of the task's primary metric on this item (0/1 for accuracy metrics)."""


@dataclass(frozen=True)
class TaskResult:
    """One leaf task's result for one model."""

    task: str
    """lm-eval leaf task name."""
    member: str
    """Suite member the task belongs to (itself, or its group, e.g. `mmlu`)."""
    metric: str
    """Primary metric name (lm-eval's, without the `,filter` suffix)."""
    score: float
    """lm-eval's aggregate of the primary metric over the items, in [0, 1]."""
    n_items: int
    """Number of items evaluated."""
    task_hash: str
    """sha256 of the task's lm-eval config and of its docs: changes when the task changes."""
    cache_key: str
    """Store key of this result (model fingerprint, task hash, settings; see `prior.run`)."""
    cached: bool
    """True when served from the store without running the model."""
    items: tuple[ItemOutcome, ...] = field(repr=False, default=())
    """Per-item outcomes, in doc order."""


@dataclass(frozen=True)
class EvalSettings:
    """Everything besides the model and the task that can change a score (all part of cache keys)."""

    backend: str
    """Model backend (`hf`)."""
    dtype: str
    """Weights/activation dtype the model ran in (e.g. `float32`)."""
    device: str
    """Device (`cpu`, `cuda`); not part of the cache key."""
    limit: int | None
    """lm-eval `limit`: first N docs per task, or None for all."""
    num_fewshot: int | None
    """Few-shot override, or None for each task's own setting."""
    chat_template: bool
    """Whether prompts were rendered with the model's chat template."""
    batch_size: int
    """Batch size (not part of the cache key: it does not change results beyond float noise)."""
    seeds: dict[str, int]
    """lm-eval's random, numpy, torch and few-shot seeds."""
    lm_eval_version: str
    """Installed lm-eval version."""


@dataclass(frozen=True)
class EvalResult:
    """Prior-capability results of one model on one suite."""

    schema_version: int
    """Version of this schema (`SCHEMA_VERSION`)."""
    forgetbench_version: str
    model: ModelInfo
    suite: str
    """Suite name."""
    settings: EvalSettings
    tasks: tuple[TaskResult, ...]
    """One result per leaf task, in suite order."""
    elapsed_s: float
    """Wall time of the evaluation call, including store look-ups."""

    def to_dict(self, items: bool = False) -> dict:
        """JSON-ready dict; per-item outcomes only when `items`."""
        d = asdict(self)
        if not items:
            for t in d["tasks"]:
                t.pop("items")
        return d


@dataclass(frozen=True)
class Estimate:
    """One KL estimator's result over the prompts."""

    name: str
    """`full`, `k1` or `k3` (see `forgetbench.kl.estimators`)."""
    mean: float
    """Mean per-sequence KL in nats: average over prompts of each prompt's mean over its samples."""
    ci_low: float
    """Lower end of the 95% bootstrap CI (prompts resampled; a prompt's samples stay together)."""
    ci_high: float
    """Upper end of the 95% bootstrap CI."""
    per_token: float
    """Σ KL / Σ response tokens over all samples (nats per token)."""


@dataclass(frozen=True)
class KLResult:
    """KL between base and checkpoint on new-task prompts."""

    schema_version: int
    forgetbench_version: str
    base: ModelInfo
    ckpt: ModelInfo
    direction: str
    """`forward` = KL(base‖ckpt), responses sampled from the base; `reverse` = KL(ckpt‖base), from the checkpoint."""
    prompts_source: str
    """Prompts file or `task:NAME`."""
    prompts_hash: str
    """sha256 of the rendered prompts (after any chat template), in order."""
    chat_template: bool
    """Whether the chat template was applied."""
    n_prompts: int
    samples_per_prompt: int
    max_new_tokens: int
    mean_response_tokens: float
    """Mean response length in tokens (EOS included when drawn)."""
    eos_fraction: float
    """Fraction of responses that ended with EOS rather than at max_new_tokens."""
    estimates: tuple[Estimate, ...]
    """One per requested estimator; the first is the headline number."""
    noise_floor: Estimate | None
    """The same pipeline with the checkpoint replaced by a second copy of the sampling model; `full`
    must be 0 up to float error. None when skipped."""
    noise_floor_prompts: int
    """Prompts the noise floor was measured on."""
    seed: int
    samples_cached: bool
    """True when the sampled responses came from the store."""
    backend: str
    dtype: str
    device: str
    elapsed_s: float
    """Wall time of the whole measurement (model loads included)."""
    sampling_s: float
    """Wall time of sampling (≈0 when the samples came from the store; includes loading the sampler)."""
    scoring_s: float
    """Wall time of scoring every sample under both models (includes loading the other model)."""
    noise_floor_s: float
    """Wall time of the noise-floor pass (includes loading the second copy)."""

    def to_dict(self) -> dict:
        return asdict(self)
