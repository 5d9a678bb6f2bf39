"""Run one lm-eval task on an lm-eval model object and reduce lm-eval's output to a `TaskOutput`.

Shared by both backends: the transformers backend calls it in-process on lm-eval's HFLM, the vLLM
worker on lm-eval's VLLM model. lm-eval's own request cache is never used (it is not keyed by model).
"""

from __future__ import annotations

import contextlib
import functools
import math
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

from forgetbench.backends.base import NonFiniteLoglikelihoods, SampleRecord, TaskOutput, TaskRequest
from forgetbench.backends.lm_eval_samples import evidence, item_value
from forgetbench.core.errors import BackendError
from forgetbench.core.progress import Reporter


@functools.lru_cache(maxsize=4)
def _task_manager(include_path: str, include_defaults: bool) -> Any:
    import logging

    from lm_eval.tasks import TaskManager

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    return TaskManager(include_path=include_path, include_defaults=include_defaults)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _records(samples: list[dict], output_type: str, metric: str | None, delimiter: str) -> tuple[SampleRecord, ...]:
    out = []
    for s in samples:
        values = {k: item_value(s[k]) for k in (s.get("metrics") or ()) if k in s}
        metrics = {k: v for k, v in values.items() if v is not None}
        out.append(
            SampleRecord(
                int(s["doc_id"]), str(s["doc_hash"]), str(s.get("filter", "none")), metrics, len(s.get("arguments") or ()),
                evidence(s, output_type, metric, delimiter),
            )
        )  # fmt: skip
    return tuple(out)


def _floats(value: Any) -> Iterator[float]:
    """Every float inside lm-eval's nested responses (log-likelihoods, greedy flags, generations)."""
    if isinstance(value, float):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _floats(v)


def _check_finite(task: str, samples: list[dict]) -> None:
    for s in samples:
        if any(not math.isfinite(x) for x in _floats(s.get("resps"))):
            raise NonFiniteLoglikelihoods(f"NaN/inf log-likelihoods on task {task} (doc {s.get('doc_id')}); nothing was stored")


def _quiet_git_hash() -> str | None:
    """lm-eval records the git commit of the working directory by running `git` without capturing its
    stderr, which prints "fatal: not a git repository" once per task outside a checkout; same value, quietly."""
    try:
        return subprocess.check_output(["git", "describe", "--always"], stderr=subprocess.DEVNULL, text=True).strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def _bar_class(reporter: Reporter, task: str) -> type:
    """tqdm's interface as lm-eval uses it, drawn by forgetbench's `reporter` (one progress system): the
    long bars ("Running loglikelihood requests", "Running generate_until requests") become its steps;
    the short preparatory ones are not shown."""

    class Bar:
        def __init__(self, iterable: Any = None, total: int | None = None, desc: str | None = None,
                     disable: bool = False, **_: Any) -> None:  # fmt: skip
            self.iterable = iterable
            if total is None:
                total = len(iterable) if hasattr(iterable, "__len__") else 0
            shown = not disable and bool(desc) and str(desc).startswith("Running ")
            self.advance = reporter.step(f"{task}: {str(desc)[8:]}", int(total)) if shown else None

        def __iter__(self) -> Iterator[Any]:
            for item in self.iterable:
                yield item
                self.update(1)

        def update(self, n: int = 1) -> None:
            if self.advance is not None:
                self.advance(n)

        def close(self) -> None:
            pass

        def set_description(self, *_: Any, **__: Any) -> None:
            pass

        set_postfix = refresh = set_description

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *_: Any) -> None:
            self.close()

    return Bar


@contextlib.contextmanager
def routed_progress(reporter: Reporter, task: str) -> Iterator[None]:
    """Within the block, every lm-eval module's `tqdm` draws through `reporter` instead of its own bar."""
    from tqdm import tqdm

    bar = _bar_class(reporter, task)
    with contextlib.ExitStack() as stack:
        for name, module in list(sys.modules.items()):
            if name.startswith("lm_eval") and getattr(module, "tqdm", None) is tqdm:
                stack.enter_context(patch.object(module, "tqdm", bar))
        yield


def run_task(lm: Any, request: TaskRequest, reporter: Reporter) -> TaskOutput:
    """`lm_eval.simple_evaluate` of one task with per-item samples, reduced to numbers, its progress
    drawn by `reporter`; a NaN/inf log-likelihood stops the run (NonFiniteLoglikelihoods) instead of
    scoring the item 0."""
    import lm_eval
    import lm_eval.evaluator

    tm = _task_manager(request.include_path, request.include_defaults)
    task = tm.load([request.task])["tasks"].get(request.task)
    if task is None:
        raise BackendError(f"lm-eval did not build task {request.task!r}")
    quiet = hasattr(lm_eval.evaluator, "get_git_commit_hash")
    git = patch.object(lm_eval.evaluator, "get_git_commit_hash", _quiet_git_hash) if quiet else contextlib.nullcontext()
    with git, routed_progress(reporter, request.task):
        out = lm_eval.simple_evaluate(
            model=lm, tasks=[task], limit=request.limit, num_fewshot=request.num_fewshot, log_samples=True,
            bootstrap_iters=0, apply_chat_template=request.chat_template,
            confirm_run_unsafe_code=request.allow_code_execution, task_manager=tm, **request.seeds,
        )  # fmt: skip
    samples = out["samples"][request.task]
    _check_finite(request.task, samples)
    results = {k: float(v) for k, v in out["results"][request.task].items() if "," in k and _numeric(v)}
    output_type, delimiter = str(task.config.output_type), str(getattr(task.config, "target_delimiter", " "))
    return TaskOutput(request.task, output_type, results, _records(samples, output_type, request.metric, delimiter))
