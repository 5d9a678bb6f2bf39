"""Entry point of one vLLM engine's process: `python -m forgetbench.backends.vllm_worker JOB RESULT`.

Jobs (JSON, written by `forgetbench.backends.vllm`):
- `kl`: start an engine for one model; optionally sample responses; optionally score sequences
  (the sampled ones, or given ones) with prompt log-probs; optionally write (`full: "write"`) or
  compare against (`full: "kl"`) full next-token distributions in a float32 memmap.
- `prior`: run `prior.run.evaluate` in this process with lm-eval's own `vllm` model.

Progress and messages go to stdout as `EVENT_PREFIX` + JSON lines; the result (or `{"error": ...}`)
goes to RESULT. The process exits when the job is done, which is what frees the engine.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import numpy as np

from forgetbench.backends.vllm import EVENT_PREFIX
from forgetbench.progress import Reporter


def emit(**event) -> None:
    sys.stdout.write(EVENT_PREFIX + json.dumps(event) + "\n")
    sys.stdout.flush()


class EventReporter(Reporter):
    """Forwards progress to the parent process."""

    def message(self, text: str) -> None:
        emit(message=text)

    def step(self, description: str, total: int):
        emit(step=description, total=total)
        return lambda n: emit(advance=n)


def _full_rows(job: dict, sequences: list[list[int]], starts: list[int], vocab: int):
    """on_rows callback for `full` = write (base rows to the memmap) or kl (compare with them)."""
    mode = job.get("full", "none")
    if mode == "none":
        return None, None
    offsets = np.concatenate([[0], np.cumsum([len(s) - st for s, st in zip(sequences, starts)])])
    store = np.lib.format.open_memmap(
        job["full_path"], mode="w+" if mode == "write" else "r", dtype=np.float32, shape=(int(offsets[-1]), vocab)
    )
    kl: dict[int, list[float]] = {}

    def on_rows(i: int, rows: np.ndarray) -> None:
        if rows.shape[1] != store.shape[1]:
            raise ValueError(f"engine vocabulary {rows.shape[1]} differs from the sampler's {store.shape[1]}")
        block = slice(int(offsets[i]), int(offsets[i + 1]))
        if mode == "write":
            store[block] = rows
            return
        logp = np.asarray(store[block], dtype=np.float64)
        p = np.exp(logp)
        diff = np.where(p > 0, logp - rows.astype(np.float64), 0.0)  # 0·log 0 = 0
        kl[i] = (p * diff).sum(-1).tolist()

    return on_rows, kl


def run_kl(job: dict) -> dict:
    from forgetbench.backends import vllm_engine

    label = job["label"]
    emit(message=f"starting a vLLM engine for {label}")
    llm = vllm_engine.engine(job["engine"], -1 if job.get("full", "none") != "none" else 0)
    result: dict = {}
    sequences = starts = None
    if job.get("sample"):
        s = job["sample"]
        total = len(s["prompts"]) * s["n"]
        emit(step=f"sampling from {label} (vLLM)", total=total)
        responses = vllm_engine.sample(llm, s["prompts"], s["n"], s["max_tokens"], s["seeds"], s["stop_ids"], lambda n: emit(advance=n))
        result["responses"] = responses
        prompts = [p for p in s["prompts"] for _ in range(s["n"])]
        sequences = [p + r for p, r in zip(prompts, responses)]
        starts = [len(p) for p in prompts]
    if job.get("score") is not None:
        if job["score"].get("sequences") is not None:
            sequences, starts = job["score"]["sequences"], job["score"]["starts"]
        on_rows, kl = _full_rows(job, sequences, starts, llm.llm_engine.model_config.get_vocab_size())
        emit(step=f"log-probs under {label} (vLLM)", total=len(sequences))
        result["logprobs"] = vllm_engine.prompt_logprobs(
            llm, sequences, starts, on_rows is not None, lambda n: emit(advance=n), on_rows
        )
        if kl is not None and job["full"] == "kl":
            result["kl"] = [kl[i] for i in range(len(sequences))]
    return result


def run_prior(job: dict) -> dict:
    from forgetbench.config import EvalConfig, VLLMOptions
    from forgetbench.prior.run import evaluate
    from forgetbench.store import Store

    config = EvalConfig(**{**job["config"], "vllm": VLLMOptions(**job["config"]["vllm"])})
    evaluate(config, Store(Path(job["store"])), EventReporter(), in_process=True)
    return {}


def main(argv: list[str]) -> int:
    from forgetbench.backends import vllm_engine

    job_path, result_path = Path(argv[1]), Path(argv[2])
    job = json.loads(job_path.read_text())
    try:
        result, code = {"kl": run_kl, "prior": run_prior}[job["kind"]](job), 0
    except Exception as exc:  # reported to the parent as one line; the traceback stays in the log
        traceback.print_exc()
        message = str(exc).strip().splitlines()
        result, code = {"error": f"{type(exc).__name__}: {message[0] if message else ''}"}, 1
    try:
        vllm_engine.shutdown_all()
    except Exception:  # the job's outcome is already decided; a failed shutdown is only logged
        traceback.print_exc()
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(result_path)
    return code


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: the engines are already shut down, and their threads'
    # destructors can abort the process on the way out
