"""The typed, versioned messages between the vLLM backend (parent) and its worker process.

One message per line on the worker's stdin (requests) and stdout (replies and progress), each
`{"protocol": PROTOCOL_VERSION, "type": <class name>, "body": <dataclass fields>}` behind `PREFIX`
(vLLM's own output may share the worker's stdout; lines without the prefix go to the log). Bodies
are rebuilt strictly (`core.results_io.build`): a message of another protocol version, an unknown
type or an unknown field is an error, never guessed at.

A conversation: `StartEngine` → `Ready`, then any number of `Sample` → `Sampled`,
`PromptLogprobs` → `Logprobs`, `RunTask` → `TaskDone` (each may answer `Failed` instead, and may be
preceded by `Progress` messages), then `Shutdown` (or the parent closes stdin).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from forgetbench.backends.base import TaskOutput, TaskRequest
from forgetbench.core.errors import BackendError, ResultFileError
from forgetbench.core.results_io import build

PROTOCOL_VERSION = 4
"""2: LoRA adapters (`Lora` on Sample, PromptLogprobs and RunTask); 3: `SampleRecord.evidence`; 4: every
per-token divergence (`FullRows.divergences` asks, `Logprobs.divergences` answers; was `Logprobs.kl`)."""
PREFIX = "@forgetbench-worker "


@dataclass(frozen=True)
class StartEngine:
    """Start the worker's one engine."""

    engine: dict[str, Any]
    """Keyword arguments of `vllm.LLM` (model path, dtype, tensor parallelism, memory, max length)."""
    max_logprobs: int
    """0, or -1 when full next-token distributions will be read (`FullRows`)."""
    lm_eval: bool
    """Wrap the engine in lm-eval's own `vllm` model (for `RunTask`; it then serves every request) instead
    of a bare `vllm.LLM`."""
    lm_eval_batch_size: str
    """lm-eval's batch size for its vllm model (`auto`)."""


@dataclass(frozen=True)
class Lora:
    """A LoRA adapter served by an engine started with `enable_lora` (vLLM's `LoRARequest`)."""

    name: str
    id: int
    """vLLM's adapter id: unique per adapter within one engine, ≥ 1."""
    path: str
    """Local adapter folder."""


@dataclass(frozen=True)
class Sample:
    """`n` responses per prompt at temperature 1 (no top-p / top-k / min-p / penalties)."""

    prompts: list[list[int]]
    n: int
    max_tokens: int
    seeds: list[int]
    """One seed per prompt: a response does not depend on how requests are batched."""
    stop_ids: list[int]
    lora: Lora | None = None
    """Sample from the base with this adapter applied (None: the engine's model itself)."""


@dataclass(frozen=True)
class FullRows:
    """Full next-token distributions on disk: `reference` writes the engine's rows (float32 memmap at
    `path`), `compare` reads them back and returns each of `divergences` of this engine from the reference
    per response token (`backends.divergences.per_token(reference, this, divergences)`, the kernel the
    transformers scorer runs)."""

    path: str
    mode: Literal["reference", "compare"]
    divergences: tuple[str, ...] = ()
    """Registered divergence names (`backends.divergences.DIVERGENCES`) to compute in `compare` mode; never
    `act` (the hidden-state distance is not a function of the rows: the worker refuses it). Empty in
    `reference` mode."""


@dataclass(frozen=True)
class PromptLogprobs:
    """log p(token_t | tokens_<t) for t ≥ starts[i] of each sequence, from the engine's prompt log-probs."""

    sequences: list[list[int]]
    starts: list[int]
    full: FullRows | None
    lora: Lora | None = None


@dataclass(frozen=True)
class RunTask:
    """One lm-eval task through lm-eval's vllm model (the engine must have started with `lm_eval`)."""

    request: TaskRequest
    lora: Lora | None = None


@dataclass(frozen=True)
class Shutdown:
    """Stop the engine and exit."""


@dataclass(frozen=True)
class Ready:
    """The engine is up."""

    vllm_version: str


@dataclass(frozen=True)
class Sampled:
    responses: list[list[int]]
    """Prompt-major; a response ends with its EOS id when one was drawn."""


@dataclass(frozen=True)
class Logprobs:
    logprobs: list[list[float]]
    divergences: list[dict[str, list[float]]] | None
    """When `FullRows.mode == "compare"`: per sequence, {name: one value per response token} for each name
    in `FullRows.divergences` (`full` = KL(reference ‖ this engine), in nats); None otherwise."""


@dataclass(frozen=True)
class TaskDone:
    output: TaskOutput


@dataclass(frozen=True)
class Failed:
    error: str
    """One line: the exception type and its message (the traceback is in the worker's log)."""


@dataclass(frozen=True)
class Progress:
    """A status message, the start of a progress bar (`step`, `total`), or units done (`advance`)."""

    message: str | None = None
    step: str | None = None
    total: int | None = None
    advance: int | None = None


Request = StartEngine | Sample | PromptLogprobs | RunTask | Shutdown
Reply = Ready | Sampled | Logprobs | TaskDone | Failed | Progress
TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        StartEngine,
        Lora,
        Sample,
        PromptLogprobs,
        RunTask,
        Shutdown,
        Ready,
        Sampled,
        Logprobs,
        TaskDone,
        Failed,
        Progress,
    )
}


def encode(message: Any) -> str:
    """One protocol line (with PREFIX, without the newline)."""
    body = dataclasses.asdict(message)
    return PREFIX + json.dumps({"protocol": PROTOCOL_VERSION, "type": type(message).__name__, "body": body})


def decode(line: str) -> Any:
    """The message on a protocol line; BackendError when it is not one this version understands."""
    try:
        envelope = json.loads(line.removeprefix(PREFIX))
    except json.JSONDecodeError:
        raise BackendError(f"vLLM worker protocol: unreadable line {line[:80]!r}") from None
    if not isinstance(envelope, dict) or envelope.get("protocol") != PROTOCOL_VERSION:
        got = envelope.get("protocol") if isinstance(envelope, dict) else None
        raise BackendError(f"vLLM worker protocol version {got!r}, expected {PROTOCOL_VERSION}")
    cls = TYPES.get(str(envelope.get("type")))
    if cls is None:
        raise BackendError(f"vLLM worker protocol: unknown message type {envelope.get('type')!r}")
    try:
        return build(cls, envelope.get("body"), f"vLLM worker message {cls.__name__}")
    except ResultFileError as exc:
        raise BackendError(str(exc)) from None
