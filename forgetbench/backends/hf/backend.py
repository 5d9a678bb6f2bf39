"""`HFBackend`: the `Backend` protocol on transformers, in this process. Loaded models are kept per
`ModelRef` (a replica is a second, separate load; a `dtype` override loads the model in that dtype)
until `close`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from forgetbench.backends.base import BackendBase, ModelRef, SamplingRequest, TaskOutput, TaskRequest, TokenScores
from forgetbench.backends.device import resolve_device, resolve_dtype

if TYPE_CHECKING:
    from forgetbench.core.config import Runtime
    from forgetbench.core.model import ResolvedModel
    from forgetbench.core.progress import Reporter


class HFBackend(BackendBase):
    """transformers models for sampling and the KL pass; lm-eval's HFLM for suites."""

    name: ClassVar[str] = "hf"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.device = resolve_device(runtime.device)
        self.dtype = resolve_dtype(runtime.dtype, self.device)
        self._models: dict[tuple[str, int, str | None], Any] = {}
        self._lm_eval: dict[str, Any] = {}

    def version(self) -> str | None:
        return None

    def full_scorer(self) -> str:
        return "hf"

    def _load(self, ref: ModelRef, reporter: Reporter) -> Any:
        from forgetbench.backends.hf import scorer

        if ref.key not in self._models:
            dtype = ref.dtype or self.dtype
            copy = " (second copy)" if ref.replica else ""
            reporter.message(f"loading {ref.model.name}{copy} ({dtype}, {self.device})")
            self._models[ref.key] = scorer.load_model(ref.model, self.device, dtype)
        return self._models[ref.key]

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
        full: bool,
        batch_size: int,
        reporter: Reporter,
    ) -> list[TokenScores]:
        from forgetbench.backends.hf import scorer

        p_lm, q_lm = self._load(p, reporter), self._load(q, reporter)
        advance = reporter.step(f"scoring under {p.label} and {q.label}", len(sequences))
        return scorer.score(p_lm, q_lm, sequences, pad_id, advance, batch_size)

    def run_task(self, model: ResolvedModel, request: TaskRequest, reporter: Reporter) -> TaskOutput:
        from forgetbench.backends.hf.lm_eval import lm_eval_model
        from forgetbench.backends.lm_eval_tasks import run_task

        key = model.fingerprint.digest
        if key not in self._lm_eval:
            reporter.message(f"loading {model.name} (hf, {self.dtype}, {self.device})")
            self._lm_eval[key] = lm_eval_model(model, self.device, self.dtype, self.runtime.batch_size)
        return run_task(self._lm_eval[key], request, reporter)

    def close(self) -> None:
        self._models.clear()
        self._lm_eval.clear()
