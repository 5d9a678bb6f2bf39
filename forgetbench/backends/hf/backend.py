"""`HFBackend`: the `Backend` protocol on transformers, in this process. Loaded models are kept per
`ModelRef` (a replica is a second, separate load; a `dtype` override loads the model in that dtype),
the `KEEP_LOADED` most recently used ones, until `close`: a KL pass needs the sampler, the other model,
the sampler's second copy and (below float32) its float32 copy, and a sweep then moves on to its next
checkpoint while the base stays loaded (in either KL direction)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from forgetbench.backends.base import (
    BackendBase,
    BackendOptions,
    ModelRef,
    SamplingRequest,
    TaskOutput,
    TaskRequest,
    TokenScores,
    Usage,
)
from forgetbench.backends.device import resolve_device, resolve_dtype
from forgetbench.backends.registry import backends

KEEP_LOADED = 4

if TYPE_CHECKING:
    from forgetbench.core.config import Runtime
    from forgetbench.core.model import ResolvedModel
    from forgetbench.core.progress import Reporter


@dataclass(frozen=True)
class HFOptions(BackendOptions):
    """The hf backend has no options of its own: device, dtype and batch size are every backend's (`Runtime`)."""


@backends.register("hf")
class HFBackend(BackendBase):
    """transformers models for sampling, the KL pass and (wrapped in lm-eval's HFLM) suites: one load
    of a model serves all three."""

    name: ClassVar[str] = "hf"
    Options = HFOptions

    def __init__(self, runtime: Runtime) -> None:
        self.options_of(runtime)  # another backend's options are refused here, before any work
        self.runtime = runtime
        self.device = resolve_device(runtime.device)
        self.dtype = resolve_dtype(runtime.dtype, self.device)
        self._models: OrderedDict[tuple[str, int, str | None], Any] = OrderedDict()
        self._lm_eval: dict[tuple[str, int, str | None], Any] = {}
        self.usage = Usage()

    def version(self) -> str | None:
        return None

    def full_scorer(self) -> str:
        return "hf"

    def _load(self, ref: ModelRef, reporter: Reporter) -> Any:
        from forgetbench.backends.hf import scorer

        if ref.key in self._models:
            self._models.move_to_end(ref.key)
            return self._models[ref.key]
        while len(self._models) >= KEEP_LOADED:
            old, _ = self._models.popitem(last=False)
            self._lm_eval.pop(old, None)
        dtype = ref.dtype or self.dtype
        how = ", adapter merged" if ref.model.adapter else ""
        reporter.message(f"loading {ref.label} ({dtype}, {self.device}{how})")
        self._models[ref.key] = scorer.load_model(ref.model, self.device, dtype)
        self.usage.loaded(ref.label)
        return self._models[ref.key]

    def model(self, model: ResolvedModel, reporter: Reporter) -> Any:
        """The loaded transformers model of `model` (loaded once, kept like the ones sampling and scoring use)."""
        return self._load(ModelRef(model), reporter)

    def sample(
        self, model: ResolvedModel, prompts: list[list[int]], request: SamplingRequest, reporter: Reporter
    ) -> list[list[int]]:
        from forgetbench.backends.hf import scorer

        lm = self._load(ModelRef(model), reporter)
        expanded = [ids for ids in prompts for _ in range(request.n)]
        advance = reporter.step(f"sampling from {model.name}", len(expanded))
        return scorer.sample(
            lm, expanded, request.max_new_tokens, set(request.stop_ids), request.pad_id, request.seed, advance, request.batch_size
        )

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
        from forgetbench.backends.hf import scorer

        p_lm, q_lm = self._load(p, reporter), self._load(q, reporter)
        advance = reporter.step(f"scoring under {p.label} and {q.label}", len(sequences))
        return scorer.score(p_lm, q_lm, sequences, pad_id, advance, batch_size, divergences=divergences)

    def run_task(self, model: ResolvedModel, request: TaskRequest, reporter: Reporter) -> TaskOutput:
        from forgetbench.backends.hf.lm_eval import lm_eval_model
        from forgetbench.backends.lm_eval_tasks import run_task

        ref = ModelRef(model)
        lm = self._load(ref, reporter)
        if ref.key not in self._lm_eval:
            self._lm_eval[ref.key] = lm_eval_model(lm, model, self.runtime.batch_size)
        return run_task(self._lm_eval[ref.key], request, reporter)

    def close(self) -> None:
        self._models.clear()
        self._lm_eval.clear()
