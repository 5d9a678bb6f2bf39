"""`VLLMBackend`: the `Backend` protocol on vLLM engines, each in its own worker process.

At most one engine is alive at a time (engines reserve most of a GPU's memory): a request for
another model stops the current worker first; successive requests on the same model reuse it, so
sampling and the sampler's log-probs share one engine. Log-probs already computed are kept per model
and sequence, so the noise floor does not restart the sampler's engine.

- k1/k3: log p(y_t) from the sampler's engine and log q(y_t) from the other model's engine, both
  vLLM prompt log-probs (`logprobs_mode="raw_logprobs"`).
- `full`: by default the transformers scorer on the same sequences (the engine is stopped first);
  with `--full-scorer vllm`, full-vocabulary prompt log-probs of both engines through a float32 memmap.
- suites: lm-eval's own `vllm` model inside the worker, one task per request.
- a `ModelRef` with a `dtype` (the precision floor's float32 run of the sampler) is an engine started with
  that `dtype`. Where this vLLM build cannot run float32 (some GPU attention backends), the engine fails
  to start and the measurement stops with vLLM's error (a `BackendError`): never a silent fallback.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, cast

import numpy as np

from forgetbench.backends.base import (
    BackendBase,
    ModelRef,
    NonFiniteLogprobs,
    SamplingRequest,
    TaskOutput,
    TaskRequest,
    TokenScores,
)
from forgetbench.backends.device import resolve_device, resolve_dtype
from forgetbench.backends.vllm import process
from forgetbench.backends.vllm.protocol import FullRows, Logprobs, PromptLogprobs, RunTask, Sample, Sampled, StartEngine, TaskDone
from forgetbench.core.errors import BackendError

if TYPE_CHECKING:
    from forgetbench.core.config import Device, DType, Runtime
    from forgetbench.core.model import ResolvedModel
    from forgetbench.core.progress import Reporter

Sequence = tuple[list[int], list[int]]


def prompt_seeds(seed: int, n: int) -> list[int]:
    """One sampling seed per prompt, independent of how requests are batched."""
    return [int(np.random.SeedSequence([seed, i]).generate_state(1)[0]) for i in range(n)]


class VLLMBackend(BackendBase):
    """vLLM engines in worker processes, one at a time."""

    name: ClassVar[str] = "vllm"

    def __init__(self, runtime: Runtime) -> None:
        self._version = process.version()  # BackendUnavailable (exit 2, install line) before any work
        process.check_lm_eval_can_find_vllm()
        self.runtime = runtime
        self.options = runtime.vllm
        self.device = resolve_device(runtime.device)
        self.dtype = resolve_dtype(runtime.dtype, self.device)
        self._worker: process.WorkerProcess | None = None
        self._worker_key: tuple | None = None
        self._logprobs: dict[tuple, np.ndarray] = {}
        self._reference: tuple[tuple[str, int, str | None], list[tuple], str] | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix="fb-vllm-rows-"))

    def version(self) -> str | None:
        return self._version

    def full_scorer(self) -> str:
        return self.options.full_scorer

    def _stop(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = self._worker_key = None

    def _engine(self, ref: ModelRef, max_len: int | None, lm_eval: bool, reporter: Reporter) -> process.WorkerProcess:
        """The live worker for `ref` (started now when another model's, or a shorter one, is live)."""
        live = self._worker_key
        if (
            self._worker is not None
            and live is not None
            and live[:2] == (ref.key, lm_eval)
            and (max_len is None or (live[2] is not None and live[2] >= max_len))
        ):
            return self._worker
        self._stop()
        kwargs = process.engine_kwargs(ref.model, self.options, ref.dtype or self.dtype, self.device, max_len)
        max_logprobs = -1 if self.options.full_scorer == "vllm" and not lm_eval else 0
        self._worker = process.WorkerProcess(ref.label, StartEngine(kwargs, max_logprobs, lm_eval, "auto"), reporter)
        self._worker_key = (ref.key, lm_eval, kwargs["max_model_len"])
        return self._worker

    def sample(
        self, model: ResolvedModel, prompts: list[list[int]], request: SamplingRequest, reporter: Reporter
    ) -> list[list[int]]:
        longest = max(len(p) for p in prompts) + request.max_new_tokens + 1
        worker = self._engine(ModelRef(model), longest, False, reporter)
        reply = worker.request(
            Sample(
                prompts, request.n, request.max_new_tokens, prompt_seeds(request.seed, len(prompts)), sorted(request.stop_ids)
            ),
            reporter,
        )
        assert isinstance(reply, Sampled)
        return reply.responses

    def _logprobs_of(
        self,
        ref: ModelRef,
        sequences: list[Sequence],
        full: Literal["reference", "compare"] | None,
        role: Literal["p", "q"],
        reporter: Reporter,
    ) -> tuple[list[np.ndarray], list[list[float]] | None]:
        """Sampled-token log-probs of `ref` on each sequence (from memory when computed before), and the
        per-token KL against the reference rows when `full == "compare"`."""
        keys = [(ref.key, tuple(a), tuple(b)) for a, b in sequences]
        reference_ok = self._reference is not None and self._reference[0] == ref.key and self._reference[1][: len(keys)] == keys
        if (full is None or (full == "reference" and reference_ok)) and all(k in self._logprobs for k in keys):
            return [self._logprobs[k] for k in keys], None
        rows = FullRows(str(self._tmp / "reference.npy"), full) if full else None
        longest = max(len(a) + len(b) for a, b in sequences) + 1
        worker = self._engine(ref, longest, False, reporter)
        reply = worker.request(PromptLogprobs([a + b for a, b in sequences], [len(a) for a, _ in sequences], rows), reporter)
        assert isinstance(reply, Logprobs)
        arrays = [np.asarray(lp, dtype=np.float32) for lp in reply.logprobs]
        bad = next((i for i, a in enumerate(arrays) if not np.isfinite(a).all()), None)
        if bad is not None:
            raise NonFiniteLogprobs(role, bad)
        self._logprobs.update(zip(keys, arrays))
        if full == "reference":
            self._reference = (ref.key, keys, rows.path if rows else "")
        return arrays, reply.kl

    def score(
        self, p: ModelRef, q: ModelRef, sequences: list[Sequence], pad_id: int, full: bool, batch_size: int, reporter: Reporter
    ) -> list[TokenScores]:
        vllm_full = full and self.options.full_scorer == "vllm"
        logp, _ = self._logprobs_of(p, sequences, "reference" if vllm_full else None, "p", reporter)
        logq, compared = self._logprobs_of(q, sequences, "compare" if vllm_full else None, "q", reporter)
        kl: list[np.ndarray | None]
        if vllm_full:
            if compared is None:
                raise BackendError("vLLM worker returned no full-vocabulary KL")
            kl = [np.asarray(k, dtype=np.float32) for k in compared]
        elif full:
            kl = self._hf_full(p, q, sequences, pad_id, batch_size, reporter)
        else:
            kl = [None] * len(sequences)
        return [TokenScores(k, a, b) for k, a, b in zip(kl, logp, logq)]

    def _hf_full(
        self, p: ModelRef, q: ModelRef, sequences: list[Sequence], pad_id: int, batch_size: int, reporter: Reporter
    ) -> list[np.ndarray | None]:
        """`full` from the chunked transformers scorer, with the engine stopped first (its memory freed)."""
        from forgetbench.backends.hf.backend import HFBackend
        from forgetbench.core.config import Runtime

        self._stop()
        runtime = Runtime("hf", cast("Device", self.device), cast("DType", self.dtype), self.runtime.batch_size,
                          self.runtime.trust_remote_code)  # fmt: skip
        with HFBackend(runtime) as hf:
            return [s.kl for s in hf.score(p, q, sequences, pad_id, True, batch_size, reporter)]

    def run_task(self, model: ResolvedModel, request: TaskRequest, reporter: Reporter) -> TaskOutput:
        worker = self._engine(ModelRef(model), self.options.max_model_len, True, reporter)
        reply = worker.request(RunTask(request), reporter)
        assert isinstance(reply, TaskDone)
        return reply.output

    def close(self) -> None:
        self._stop()
        self._logprobs.clear()
        self._reference = None
        shutil.rmtree(self._tmp, ignore_errors=True)
