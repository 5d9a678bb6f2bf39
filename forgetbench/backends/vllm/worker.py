"""Entry point of one vLLM engine's process: `python -m forgetbench.backends.vllm.worker`.

Reads `protocol` requests from stdin, one per line, and answers each on stdout (progress messages
first). The first request starts the engine; the process exits on `Shutdown` or when stdin closes
(the parent is gone), after shutting its engine down explicitly. A failed request answers `Failed`
with one line; its traceback goes to stderr, which the parent keeps as the worker's log.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from forgetbench.backends.divergences import ACTIVATION, check_names, per_token
from forgetbench.backends.vllm.protocol import (
    Failed,
    FullRows,
    Logprobs,
    Progress,
    PromptLogprobs,
    Ready,
    RunTask,
    Sample,
    Sampled,
    Shutdown,
    StartEngine,
    TaskDone,
    decode,
    encode,
)
from forgetbench.core.progress import Reporter


def send(message: Any) -> None:
    sys.stdout.write(encode(message) + "\n")
    sys.stdout.flush()


def advance(n: int) -> None:
    send(Progress(advance=n))


def _full_rows(full: FullRows | None, sequences: list[list[int]], starts: list[int], vocab: int):
    """on_rows callback: write the reference rows to the memmap, or compute `full.divergences` of this
    engine's rows from them (one `per_token` call per sequence: the shared parts computed once)."""
    if full is None:
        return None, None
    names = _names(full)
    offsets = np.concatenate([[0], np.cumsum([len(s) - st for s, st in zip(sequences, starts)])])
    # "c": copy-on-write, so the reference rows are readable as a torch tensor and never changed on disk
    rows_file = np.lib.format.open_memmap(
        full.path, mode="w+" if full.mode == "reference" else "c", dtype=np.float32, shape=(int(offsets[-1]), vocab)
    )
    values: dict[int, dict[str, list[float]]] = {}

    def on_rows(i: int, rows: np.ndarray) -> None:
        import torch

        if rows.shape[1] != rows_file.shape[1]:
            raise ValueError(f"engine vocabulary {rows.shape[1]} differs from the reference's {rows_file.shape[1]}")
        block = slice(int(offsets[i]), int(offsets[i + 1]))
        if full.mode == "reference":
            rows_file[block] = rows
            return
        reference, this = torch.from_numpy(rows_file[block]), torch.from_numpy(rows)
        values[i] = {name: v.tolist() for name, v in per_token(reference, this, names).items()}

    return on_rows, values


def _names(full: FullRows) -> tuple[str, ...]:
    """The divergences a `compare` request asks for, checked before any row is read: registered ones, at least
    one, never the hidden-state distance (not a function of the rows)."""
    if full.mode == "reference":
        return ()
    if ACTIVATION in full.divergences:
        raise ValueError(f"{ACTIVATION!r} needs the models' hidden states, which vLLM's prompt log-probs do not give")
    if not full.divergences:
        raise ValueError("a compare request must name at least one divergence")
    check_names(full.divergences)
    return full.divergences


class ProgressToParent(Reporter):
    """A Reporter whose messages and steps become `Progress` messages to the parent."""

    def message(self, text: str) -> None:
        send(Progress(message=text))

    def step(self, description: str, total: int) -> Callable[[int], None]:
        send(Progress(step=description, total=total))
        return advance


class Worker:
    """The engine of this process and the requests it serves."""

    def __init__(self) -> None:
        self.llm: Any = None
        self.lm: Any = None

    def start(self, req: StartEngine) -> Ready:
        from forgetbench.backends.vllm import engine

        send(Progress(message=f"starting a vLLM engine for {req.engine.get('model')}"))
        if req.lm_eval:
            self.lm = engine.lm_eval_model(req.engine, req.lm_eval_batch_size)
            self.llm = self.lm.model  # the one engine also serves sampling and log-probs
        else:
            self.llm = engine.engine(req.engine, req.max_logprobs)
        return Ready(engine.version())

    def sample(self, req: Sample) -> Sampled:
        from forgetbench.backends.vllm import engine

        send(Progress(step="sampling (vLLM)", total=len(req.prompts) * req.n))
        lora = engine.lora_request(req.lora)
        return Sampled(engine.sample(self.llm, req.prompts, req.n, req.max_tokens, req.seeds, req.stop_ids, advance, lora))

    def logprobs(self, req: PromptLogprobs) -> Logprobs:
        from forgetbench.backends.vllm import engine

        vocab = self.llm.llm_engine.model_config.get_vocab_size()
        on_rows, values = _full_rows(req.full, req.sequences, req.starts, vocab)
        send(Progress(step="log-probs (vLLM)", total=len(req.sequences)))
        lora = engine.lora_request(req.lora)
        lp = engine.prompt_logprobs(self.llm, req.sequences, req.starts, on_rows is not None, advance, on_rows, lora)
        compare = values is not None and req.full is not None and req.full.mode == "compare"
        return Logprobs(lp, [values[i] for i in range(len(req.sequences))] if compare else None)

    def run_task(self, req: RunTask) -> TaskDone:
        from forgetbench.backends.lm_eval_tasks import run_task
        from forgetbench.backends.vllm import engine

        self.lm.lora_request = engine.lora_request(req.lora)  # lm-eval's vllm model applies it to every request
        return TaskDone(run_task(self.lm, req.request, ProgressToParent()))

    def serve(self, line: str) -> bool:
        """Answer one request line; False when the worker should exit."""
        try:
            req = decode(line)
        except Exception as exc:  # a protocol mismatch is answered, not fatal to the parent's reading
            send(Failed(f"{type(exc).__name__}: {exc}"))
            return True
        if isinstance(req, Shutdown):
            return False
        handlers: dict[type, Callable[[Any], Any]] = {
            StartEngine: self.start,
            Sample: self.sample,
            PromptLogprobs: self.logprobs,
            RunTask: self.run_task,
        }
        try:
            send(handlers[type(req)](req))
        except Exception as exc:  # reported to the parent as one line; the traceback stays in the log
            traceback.print_exc()
            message = str(exc).strip().splitlines()
            send(Failed(f"{type(exc).__name__}: {message[0] if message else ''}"))
        return True


def main() -> int:
    from forgetbench.backends.vllm import engine

    worker = Worker()
    for line in sys.stdin:
        if line.strip() and not worker.serve(line.strip()):
            break
    try:
        engine.shutdown_all()
    except Exception:  # the work is done; a failed shutdown is only logged
        traceback.print_exc()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: the engines are already shut down, and their threads'
    # destructors can abort the process on the way out
