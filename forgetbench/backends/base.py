"""The one interface every model backend implements, and the typed values that cross it.

A backend is opened for one `Runtime` (`registry.open_backend`), used by the orchestrators in
`forgetbench.prior` and `forgetbench.kl`, and closed (models unloaded, engines stopped). It keeps
whatever it loaded between calls — a transformers model, a vLLM engine in a worker process — so
successive calls on the same model do not reload it. The orchestrators never ask which backend they
hold. Four operations:

- `sample`: responses to token-id prompts, drawn at temperature 1 from the model's own next-token
  distribution (no top-p / top-k / penalties, whatever its generation config says);
- `score`: per-response-token log p(y_t), log q(y_t) and, when asked, the exact full-vocabulary
  KL(p(·|…) ‖ q(·|…)) and the other per-token divergences (`backends.divergences`) — the KL pass;
- `run_task`: one lm-eval task on one model with per-item samples;
- `close`;

and `expect`, a hint of the models to come (so vLLM can serve a base and its adapters from one
engine), and `usage`, the model loads and engine starts so far. A model may be a PEFT adapter on its
base (`ResolvedModel.adapter`): the backend applies it (hf: merged through peft; vllm: LoRARequest).

A `ModelRef` with `replica=1` names a second, separately loaded copy of a model: the noise floor
compares a model with its copy. A `ModelRef` with `dtype="float32"` names the same model loaded in
float32 whatever the backend's dtype: the precision floor compares a low-precision run with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from forgetbench.core.errors import BackendError, UserInputError
from forgetbench.core.results import ItemEvidence

if TYPE_CHECKING:
    import numpy as np

    from forgetbench.core.config import Runtime
    from forgetbench.core.model import ResolvedModel
    from forgetbench.core.progress import Reporter


@dataclass(frozen=True)
class ModelRef:
    """A model as a backend slot: `replica` 0 is the model, 1 a second, separately loaded copy; `dtype`
    None runs it in the backend's dtype, a dtype name (`float32`) overrides that for this slot only."""

    model: ResolvedModel
    replica: int = 0
    dtype: str | None = None

    @property
    def key(self) -> tuple[str, int, str | None]:
        """What a backend caches a loaded model under."""
        return (self.model.fingerprint.digest, self.replica, self.dtype)

    @property
    def label(self) -> str:
        """The model's name and, when it is not the model itself, which slot: for progress messages."""
        copy = " (second copy)" if self.replica else ""
        return self.model.name + copy + (f" ({self.dtype})" if self.dtype else "")


@dataclass(frozen=True)
class SamplingRequest:
    """How to sample: `n` responses per prompt of at most `max_new_tokens`, stopping at `stop_ids`."""

    n: int
    """Responses per prompt (returned prompt-major)."""
    max_new_tokens: int
    seed: int
    stop_ids: tuple[int, ...]
    """EOS ids; a response ends with the EOS id it drew."""
    pad_id: int
    """Token used to left-pad batches (never part of a response)."""
    batch_size: int


@dataclass(frozen=True)
class TokenScores:
    """Per-response-token quantities for one sequence; arrays have one entry per response token."""

    kl: np.ndarray | None
    """Σ_v p(v|·)[log p(v|·) − log q(v|·)]: exact KL(p‖q) of the next-token distributions (nats);
    None when no full-vocabulary pass ran (`full` not requested)."""
    logp: np.ndarray
    """log p(y_t|·) of the sampled token under the sampling model p."""
    logq: np.ndarray
    """log q(y_t|·) of the sampled token under the other model q."""
    divergences: Mapping[str, np.ndarray] = field(default_factory=dict)
    """The other per-token divergences asked for (`backends.divergences`: `kl_reverse_tok`, `tv`, `js`, and
    `act`, the final hidden states' relative distance), by name, one float32 value per response token."""


class NonFiniteLogprobs(BackendError):
    """NaN/inf log-probs: `role` is "p" (sampling model) or "q" (other model), `index` the sequence."""

    def __init__(self, role: Literal["p", "q"], index: int) -> None:
        super().__init__(f"non-finite log-probs from model {role} on sequence {index}")
        self.role, self.index = role, index


class NonFiniteLoglikelihoods(BackendError):
    """An lm-eval task produced NaN/inf log-likelihoods (the message names the task and the doc)."""


@dataclass(frozen=True)
class TaskRequest:
    """One lm-eval task to run with per-item samples (serialisable: it crosses process boundaries)."""

    task: str
    """lm-eval task name."""
    include_path: str
    """forgetbench's `tasks/` folder (lm-eval `TaskManager(include_path=...)`)."""
    include_defaults: bool
    """Whether lm-eval's own tasks are needed too."""
    limit: int | None
    num_fewshot: int | None
    chat_template: bool
    allow_code_execution: bool
    seeds: dict[str, int]
    """lm-eval's random, numpy, torch and few-shot seeds."""
    metric: str | None = None
    """The task's primary metric: which option of a multiple-choice item a model took (the evidence's pick)."""


@dataclass(frozen=True)
class SampleRecord:
    """One logged lm-eval sample, reduced to what pairing and statistics need."""

    doc_id: int
    doc_hash: str
    """lm-eval's sha256 of the doc's JSON."""
    filter: str
    """lm-eval filter the metrics were computed after (`none` for most tasks)."""
    metrics: dict[str, float]
    """Metric name → this item's value."""
    n_choices: int
    """Requests made for the item (the options of a multiple-choice item)."""
    evidence: ItemEvidence | None = None
    """The prompt, options, gold and the model's answer, clipped (`lm_eval_samples.evidence`)."""


@dataclass(frozen=True)
class TaskOutput:
    """What one lm-eval task run returns."""

    task: str
    output_type: str
    """lm-eval's `output_type` (`multiple_choice`, `generate_until`, ...)."""
    results: dict[str, float]
    """lm-eval's aggregate results, keyed `metric,filter` (numeric entries only)."""
    samples: tuple[SampleRecord, ...]


@dataclass
class Usage:
    """What a backend has loaded since it was opened: model loads by label, and engines started (vLLM)."""

    loads: dict[str, int] = field(default_factory=dict)
    """Model label → times it was loaded into memory (a vLLM engine serving it counts as one load)."""
    engines: int = 0
    """vLLM engines started (0 under hf)."""

    def loaded(self, label: str) -> None:
        self.loads[label] = self.loads.get(label, 0) + 1


class Backend(Protocol):
    """A model backend (see the module docstring). Implementations register in `registry`."""

    name: ClassVar[str]
    device: str
    """Resolved device (`cpu`, `cuda`)."""
    dtype: str
    """Resolved dtype the models run in (`float32`, `bfloat16`, `float16`)."""
    usage: Usage
    """Model loads and engine starts so far (a sweep reports them)."""

    def version(self) -> str | None:
        """The engine's version when it changes results beyond the Python packages (vLLM), else None."""

    def full_scorer(self) -> str:
        """Who computes the full-vocabulary KL under this backend (`hf` or `vllm`)."""

    def expect(self, models: list[ResolvedModel]) -> None:
        """The models this backend is about to be asked for: lets it plan what to load (vLLM serves a base
        and its LoRA adapters from one engine). A hint only: any model may still be asked for."""

    def sample(
        self, model: ResolvedModel, prompts: list[list[int]], request: SamplingRequest, reporter: Reporter
    ) -> list[list[int]]:
        """`request.n` responses per prompt, prompt-major, each ending with its EOS id when one was drawn."""

    def score(
        self,
        p: ModelRef,
        q: ModelRef,
        sequences: list[tuple[list[int], list[int]]],
        pad_id: int,
        divergences: tuple[str, ...],
        batch_size: int,
        reporter: Reporter,
    ) -> list[TokenScores]:
        """Per-token scores of each (prompt ids, response ids) under p and q; NonFiniteLogprobs on NaN/inf.
        `divergences` names the full-vocabulary per-token quantities to compute (`full`: `TokenScores.kl`;
        the others into `TokenScores.divergences`); () for none (sampled-token log-probs only). A backend
        that cannot compute one leaves it out, and the run says it was not measured."""

    def run_task(self, model: ResolvedModel, request: TaskRequest, reporter: Reporter) -> TaskOutput:
        """Run one lm-eval task on `model`."""

    def close(self) -> None:
        """Unload models and stop engines."""

    def __enter__(self) -> Backend: ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None: ...


@dataclass(frozen=True)
class BackendOptions:
    """A backend's own options: a frozen dataclass subclassing this one, named by the backend
    (`BackendBase.Options`) and carried in `Runtime.options`. Each field is a flag of the commands that
    run models, `--field-name` (underscores as dashes): its annotation is the flag's type (str, int,
    float, bool, a Literal of strings, or an Optional of one), its default the flag's default, and
    `field(metadata={"help": ...})` its help; `metadata={"kl": True}` offers it only where KL is measured
    (`kl`, `score`, `sweep`). The flags are listed under `panel` in --help; one of a backend other than
    the chosen one is refused (exit 2). `__post_init__` checks the values (UserInputError naming the flag)."""

    panel: ClassVar[str] = ""
    """The --help panel of its flags ("": "<name> backend")."""
    settings_key: ClassVar[str] = "options"
    """Where a run's settings record keeps these options (`registry.settings_record`)."""

    def gpus_per_job(self) -> int:
        """GPUs one job of this backend holds (what a Ray job asks for on a cluster with GPUs)."""
        return 1


class BackendBase:
    """What every backend subclasses (the registry checks it): its `name` (the name it is registered
    under), its `Options`, and the context-manager plumbing."""

    name: ClassVar[str]
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    """The dataclass of this backend's own options (its command-line flags)."""

    @classmethod
    def options_of(cls, runtime: Runtime) -> BackendOptions:
        """`runtime.options` as this backend's `Options`: None gives the defaults, a mapping is built into
        them (an unknown key is refused), an `Options` is kept; anything else (another backend's options)
        is a UserInputError (exit 2)."""
        given = runtime.options
        if given is None:
            return cls.Options()
        if isinstance(given, cls.Options):
            return given
        if isinstance(given, Mapping):
            known = {f.name for f in fields(cls.Options)}
            unknown = sorted(set(given) - known)
            if unknown:
                raise UserInputError(
                    f"backend {cls.name} has no option {unknown[0]!r} (its options: {', '.join(sorted(known)) or 'none'})"
                )
            return cls.Options(**given)
        raise UserInputError(f"backend {cls.name} takes {cls.Options.__name__} options, not {type(given).__name__}")

    def expect(self, models: list[ResolvedModel]) -> None:
        """No planning by default: models load when first asked for."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass
