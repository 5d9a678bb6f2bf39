"""Typed run configurations, built by the CLI (or a Python caller) and passed down unchanged.

- Every default lives once, in `DEFAULTS`; the CLI's options and these dataclasses both read it.
- Enumerations are `Literal` types: the CLI offers them as choices, and every config checks its own
  values when it is built (`__post_init__`), so a bad value is one line and exit 2 before any work.
- `ScoreConfig` is composed of the `EvalConfig` of the base and the `KLConfig` of the pair; both
  share one `Runtime` (a comparison never mixes backends, devices or dtypes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from forgetbench.core.errors import UserInputError

Executor = Literal["local", "ray"]
"""Where a sweep's work runs: `local` (this process, one backend) or `ray` (jobs on a Ray cluster)."""
Device = Literal["auto", "cpu", "cuda"]
"""`auto`: cuda when a GPU is visible, else cpu."""
DType = Literal["auto", "float32", "bfloat16", "float16"]
"""`auto`: float32 on CPU, bfloat16 on GPU. The default is float32 everywhere (README, "Precision")."""
Direction = Literal["forward", "reverse", "both"]
"""`forward`: KL(base‖ckpt) on responses sampled from the base (the paper's); `reverse`: KL(ckpt‖base)."""
Estimator = Literal["full", "k1", "k3"]
"""KL estimators (`forgetbench.kl.estimators`)."""
DEVICES: tuple[str, ...] = get_args(Device)
DTYPES: tuple[str, ...] = get_args(DType)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
ESTIMATORS: tuple[str, ...] = get_args(Estimator)


@dataclass(frozen=True)
class Defaults:
    """The one table of defaults (CLI options and configs)."""

    suite: str = "offline-lite"
    backend: str = "hf"
    device: Device = "auto"
    dtype: DType = "float32"  # bf16 inflates small KLs (its precision floor, README "Precision") for little memory
    batch_size: int = 16
    eval_chat_template: bool = False
    prompt_field: str = "prompt"
    n_prompts: int = 256
    samples_per_prompt: int = 1
    max_new_tokens: int = 256
    estimators: tuple[Estimator, ...] = ("full", "k1", "k3")
    direction: Direction = "forward"
    seed: int = 0
    kl_chat_template: bool = True
    noise_floor_prompts: int = 32
    old_task_prompts: int = 64
    weight_distance: bool = True
    allow_template_mismatch: bool = False
    allow_base_mismatch: bool = False


DEFAULTS = Defaults()


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    """UserInputError naming the option when `value` is not one of `allowed`."""
    if value not in allowed:
        raise UserInputError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")


def check_count(name: str, value: object, low: int = 1) -> None:
    """UserInputError naming the option when `value` is not an integer ≥ `low`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserInputError(f"{name} must be a whole number ≥ {low} (got {value!r})")


def check_fraction(name: str, value: object) -> None:
    """UserInputError naming the option when `value` is not a finite number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= 1:
        raise UserInputError(f"{name} must be a number in (0, 1] (got {value!r})")


@dataclass(frozen=True)
class Runtime:
    """How models run. Shared by both halves of a comparison: a comparison never mixes backends."""

    backend: str = DEFAULTS.backend
    """Model backend: a name in the backends registry (`hf`, `vllm`, or an installed plugin's), checked
    when it is opened (`backends.registry.open_backend`) and by the CLI's choices."""
    device: Device = DEFAULTS.device
    """`cpu`, `cuda`, or `auto` (cuda when visible)."""
    dtype: DType = DEFAULTS.dtype
    """`float32` (default), `bfloat16`, `float16`, or `auto` (float32 on CPU, bfloat16 on GPU). Below float32
    a KL measurement also reports its precision floor (`KLResult.precision_floor`)."""
    batch_size: int = DEFAULTS.batch_size
    """lm-eval batch size; sequences per sampling batch (KL scoring uses half)."""
    trust_remote_code: bool = False
    """Allow a model's own Python code to run."""
    options: Any = None
    """The backend's own options: its options dataclass (`VLLMOptions` for vllm), a mapping of them, or
    None for its defaults; the backend checks them (another backend's options are refused)."""

    def __post_init__(self) -> None:
        if not isinstance(self.backend, str) or not self.backend:
            raise UserInputError(f"--backend must name a backend (got {self.backend!r})")
        check_choice("--device", self.device, DEVICES)
        check_choice("--dtype", self.dtype, DTYPES)
        check_count("--batch-size", self.batch_size)


@dataclass(frozen=True)
class EvalConfig:
    """One prior-capability evaluation: a model on a suite."""

    model: str
    """Model spec: embedded name, HF folder, GGUF file, hub id `org/name[@rev]`, or a PEFT adapter folder."""
    suite: str = DEFAULTS.suite
    """Suite name (an lm-eval group in `tasks/` marked `forgetbench_suite`), or `task:NAME`."""
    limit: int | None = None
    """Evaluate only the first N items of each task (None: all)."""
    num_fewshot: int | None = None
    """Override every task's few-shot count (None: each task's own)."""
    chat_template: bool = DEFAULTS.eval_chat_template
    """Render prompts with the model's chat template."""
    allow_code_execution: bool = False
    """Allow tasks that run model-generated code (in a limited subprocess)."""
    runtime: Runtime = field(default_factory=Runtime)
    """Backend, device, dtype, batch size, engine options."""
    base: str | None = None
    """The base a PEFT adapter `model` is applied to (checked against the base it declares); None: the
    base it declares. Ignored for full-weight models."""
    allow_base_mismatch: bool = DEFAULTS.allow_base_mismatch
    """Apply an adapter to `base` even when the base it declares is found here with other weights
    (recorded: `AdapterInfo.matched_by` is `mismatch allowed`, and the report warns)."""

    def __post_init__(self) -> None:
        if self.limit is not None:
            check_count("--limit", self.limit)
        if self.num_fewshot is not None:
            check_count("--num-fewshot", self.num_fewshot, 0)


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
    prompt_field: str = DEFAULTS.prompt_field
    """Column holding the prompt text in a prompts file."""
    n_prompts: int = DEFAULTS.n_prompts
    """Prompts used (a seeded subsample when the source has more)."""
    samples_per_prompt: int = DEFAULTS.samples_per_prompt
    """Responses sampled per prompt."""
    max_new_tokens: int = DEFAULTS.max_new_tokens
    """Longest response; sampling stops earlier at EOS."""
    estimators: tuple[Estimator, ...] = DEFAULTS.estimators
    """Estimators reported (`full`, `k1`, `k3`). The headline is `full` when requested, else the first."""
    direction: Direction = DEFAULTS.direction
    """`forward`: KL(π₀‖π), responses from the base (the paper's). `reverse`: KL(π‖π₀), from the checkpoint.
    `both`: the forward run, plus the reverse sequence KL on the checkpoint's own samples (predictor
    `kl_reverse_new`, its rows in kl_reverse.parquet): each model samples once."""
    seed: int = DEFAULTS.seed
    """Seed of prompt choice, sampling and bootstrap."""
    chat_template: bool = DEFAULTS.kl_chat_template
    """Render prompts as a user turn with the tokenizer's chat template, when it has one."""
    noise_floor_prompts: int = DEFAULTS.noise_floor_prompts
    """Prompts on which the noise floor (checkpoint replaced by a second copy of the sampler) is measured; 0 skips it."""
    old_task_suite: str | None = None
    """Prior suite whose items' rendered contexts are the old-task prompts of the `_old` predictors (`score`:
    its own suite); None: not measured."""
    old_task_prompts: int = DEFAULTS.old_task_prompts
    """Prompts drawn (seeded) from `old_task_suite`'s items, responses sampled from the base; 0 skips them."""
    old_task_chat_template: bool = DEFAULTS.eval_chat_template
    """Render the old-task prompts with the chat template (as the suite itself is run: `score` passes its own)."""
    old_task_limit: int | None = None
    """The suite run's `--limit` (the old-task prompts are drawn from the items it evaluates)."""
    old_task_num_fewshot: int | None = None
    """The suite run's `--num-fewshot` (the contexts carry the few-shot examples it would)."""
    weight_distance: bool = DEFAULTS.weight_distance
    """Compute the weight-space predictors (‖ΔW‖/‖W‖ and the largest σ₁(ΔW); no prompts)."""
    allow_template_mismatch: bool = DEFAULTS.allow_template_mismatch
    """Measure even when the models' chat templates or stop tokens differ (forward and reverse KL then see
    different prompts or stop rules); the difference is recorded in `KLResult.template_mismatch`."""
    allow_base_mismatch: bool = DEFAULTS.allow_base_mismatch
    """Apply an adapter checkpoint to `base` even when the base it declares is found here with other
    weights (recorded: `AdapterInfo.matched_by` is `mismatch allowed`, and the report warns)."""
    runtime: Runtime = field(default_factory=Runtime)
    """Backend, device, dtype, batch size, engine options."""

    def __post_init__(self) -> None:
        if (self.prompts is None) == (self.task is None):
            raise UserInputError("give exactly one of --prompts FILE and --task LM_EVAL_TASK")
        if not self.estimators:
            raise UserInputError("--estimators names no estimator; choose from " + ", ".join(ESTIMATORS))
        for estimator in self.estimators:
            check_choice("--estimators", estimator, ESTIMATORS)
        if len(set(self.estimators)) != len(self.estimators):
            raise UserInputError(f"--estimators repeats an estimator ({', '.join(self.estimators)})")
        check_choice("--direction", self.direction, DIRECTIONS)
        for name in ("n_prompts", "samples_per_prompt", "max_new_tokens"):
            check_count(f"--{name.replace('_', '-')}", getattr(self, name))
        check_count("--noise-floor-prompts", self.noise_floor_prompts, 0)
        check_count("--old-task-prompts", self.old_task_prompts, 0)
        check_count("--seed", self.seed, 0)

    @property
    def headline(self) -> Estimator:
        """The estimator reported and gated as *the* KL: `full` whenever it is computed (exact per
        step, lowest variance), else the first requested."""
        return "full" if "full" in self.estimators else self.estimators[0]

    @property
    def source(self) -> str:
        """The prompts file, or `task:NAME`."""
        return self.prompts if self.prompts is not None else f"task:{self.task}"


PROMPT_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
"""Prompts-file suffix → how it is read (`kl.prompts.read_prompt_file`)."""


def new_task_source(new_task: str) -> dict[str, Any]:
    """`--new-task` as KLConfig fields: an existing file, or a name with a prompts-file suffix or a path
    separator (no lm-eval task has either; a missing file is then said at once, without searching lm-eval's
    task registry), is a prompts file; anything else an lm-eval task name (`task:` prefix optional; checked
    against lm-eval's registry before any compute)."""
    looks_like_file = Path(new_task).suffix.lower() in PROMPT_FORMATS or "/" in new_task
    if Path(new_task).is_file() or (looks_like_file and not new_task.startswith("task:")):
        return {"prompts": new_task, "task": None}
    return {"prompts": None, "task": new_task.removeprefix("task:")}


@dataclass(frozen=True)
class ScoreConfig:
    """`forgetbench score`: retention on a suite and KL on a new task, base vs checkpoint."""

    eval: EvalConfig
    """The prior-capability evaluation of the base (the checkpoint's is the same with its model)."""
    kl: KLConfig
    """The KL measurement; its prompts (file or lm-eval task) are the new task."""
    law: str | None = None
    """Leaderboard CSV: predict forgetting from the measured KL by the law fitted on its rows of the same
    base and suite (this checkpoint's own row left out)."""

    def __post_init__(self) -> None:
        if self.eval.model != self.kl.base:
            raise UserInputError(f"the evaluated base {self.eval.model!r} is not the KL base {self.kl.base!r}")
        if self.eval.runtime != self.kl.runtime:
            raise UserInputError("the suite runs and the KL measurement must share one runtime (backend, device, dtype)")
        if self.eval.allow_base_mismatch != self.kl.allow_base_mismatch:
            raise UserInputError("the suite runs and the KL measurement must agree on allow_base_mismatch")

    @property
    def base(self) -> str:
        return self.kl.base

    @property
    def ckpt(self) -> str:
        return self.kl.ckpt

    @property
    def new_task(self) -> str:
        """The prompts file, or `task:NAME`."""
        return self.kl.source

    def eval_of(self, model: str) -> EvalConfig:
        """The suite evaluation of `model` (a checkpoint of this run's base) under this run's settings."""
        return replace(self.eval, model=model, base=self.base)

    @classmethod
    def build(
        cls, base: str, ckpt: str, new_task: str, *, law: str | None = None, runtime: Runtime | None = None, **options: Any
    ) -> ScoreConfig:
        """A ScoreConfig from flat keyword options, each routed by name: suite options (`suite`, `limit`,
        `num_fewshot`, `allow_code_execution`) to the EvalConfig, runtime options (`backend`, `device`,
        `dtype`, `batch_size`, `trust_remote_code`, `options`; or a whole `runtime`) to the shared Runtime,
        the rest (KL options, `chat_template` included: the prior suite runs without one, as lm-eval does
        by default) to the KLConfig. An unknown option is a UserInputError."""
        runtime_keys = {f.name for f in fields(Runtime)}
        eval_keys = {f.name for f in fields(EvalConfig)} - {"model", "base", "runtime", "chat_template"}
        kl_keys = {f.name for f in fields(KLConfig)} - {"base", "ckpt", "prompts", "task", "runtime"}
        unknown = sorted(set(options) - runtime_keys - eval_keys - kl_keys)
        if unknown:
            raise UserInputError(f"unknown score option {unknown[0]!r}")
        flat = {k: v for k, v in options.items() if k in runtime_keys}
        if runtime is not None and flat:
            raise UserInputError(f"give either runtime or runtime options such as {sorted(flat)[0]!r}, not both")
        runtime = runtime or Runtime(**flat)
        ev = EvalConfig(model=base, runtime=runtime, **{k: v for k, v in options.items() if k in eval_keys})
        kl_options: dict[str, Any] = {k: v for k, v in options.items() if k in kl_keys}
        kl_options.setdefault("old_task_suite", ev.suite)  # the `_old` predictors on the suite's own items
        kl_options.setdefault("old_task_chat_template", ev.chat_template)
        kl_options.setdefault("old_task_limit", ev.limit)
        kl_options.setdefault("old_task_num_fewshot", ev.num_fewshot)
        kl = KLConfig(base=base, ckpt=ckpt, runtime=runtime, **new_task_source(new_task), **kl_options)
        return cls(ev, kl, law)


@dataclass(frozen=True)
class CompareConfig:
    """`forgetbench compare`: two lm-eval output folders (or results files) of the same tasks."""

    base: str
    """What `lm_eval --output_path DIR --log_samples` wrote for the base: DIR, the model's folder in it,
    or one `results_<date>.json`."""
    ckpt: str
    """The same for the checkpoint."""
    tasks: tuple[str, ...] | None = None
    """Compare these tasks only (default: every task, which must then be in both runs)."""
    metrics: dict[str, str] = field(default_factory=dict)
    """Task → metric, overriding the first metric of the task's logged metric_list."""
    run: str | None = None
    """Read, on the side(s) that have it, the run whose `<date>` starts with this; each other side reads its
    newest run (default: both newest). The report records which run each side read."""
    kl: str | None = None
    """A `forgetbench kl` (or `score`) run folder of the same pair, joined as the report's KL."""
