"""Run one lm-eval task on an lm-eval model object and reduce lm-eval's output to a `TaskOutput`.

Shared by both backends: the transformers backend calls it in-process on lm-eval's HFLM, the vLLM
worker on lm-eval's VLLM model. lm-eval's own request cache is never used (it is not keyed by model).
"""

from __future__ import annotations

import functools
from typing import Any

from forgetbench.backends.base import SampleRecord, TaskOutput, TaskRequest
from forgetbench.core.errors import BackendError


@functools.lru_cache(maxsize=4)
def _task_manager(include_path: str, include_defaults: bool) -> Any:
    import logging

    from lm_eval.tasks import TaskManager

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    return TaskManager(include_path=include_path, include_defaults=include_defaults)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _records(samples: list[dict]) -> tuple[SampleRecord, ...]:
    out = []
    for s in samples:
        metrics = {k: float(v) for k, v in s.items() if k in (s.get("metrics") or ()) and _numeric(v)}
        out.append(
            SampleRecord(
                int(s["doc_id"]), str(s["doc_hash"]), str(s.get("filter", "none")), metrics, len(s.get("arguments") or ())
            )
        )
    return tuple(out)


def run_task(lm: Any, request: TaskRequest) -> TaskOutput:
    """`lm_eval.simple_evaluate` of one task with per-item samples, reduced to numbers."""
    import lm_eval

    tm = _task_manager(request.include_path, request.include_defaults)
    task = tm.load([request.task])["tasks"].get(request.task)
    if task is None:
        raise BackendError(f"lm-eval did not build task {request.task!r}")
    out = lm_eval.simple_evaluate(
        model=lm,
        tasks=[task],
        limit=request.limit,
        num_fewshot=request.num_fewshot,
        log_samples=True,
        bootstrap_iters=0,
        apply_chat_template=request.chat_template,
        confirm_run_unsafe_code=request.allow_code_execution,
        task_manager=tm,
        **request.seeds,
    )
    results = {k: float(v) for k, v in out["results"][request.task].items() if "," in k and _numeric(v)}
    return TaskOutput(request.task, str(task.config.output_type), results, _records(out["samples"][request.task]))
