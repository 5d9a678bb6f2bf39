"""New-task prompts from an lm-eval task: each eval doc's rendered `doc_to_text`."""

from __future__ import annotations

from forgetbench.core.errors import SuiteError
from forgetbench.prior.suites import task_manager


def registered(name: str) -> bool:
    """Whether lm-eval knows task `name` (forgetbench's tasks, then lm-eval's own)."""
    return name in task_manager(False).task_index or name in task_manager(True).task_index


def task_prompts(name: str) -> list[str]:
    """Rendered inputs of lm-eval task `name` (forgetbench's tasks first, then lm-eval's own)."""
    tm = task_manager(False)
    if name not in tm.task_index:
        tm = task_manager(True)
        if name not in tm.task_index:
            raise SuiteError(f"unknown lm-eval task {name!r}")
    if tm.task_index[name].kind.name not in ("TASK", "PY_TASK"):
        raise SuiteError(f"{name!r} is a group or tag; give one lm-eval task for prompts")
    task = tm.load([name])["tasks"][name]
    prompts = []
    for doc in task.eval_docs:
        text = task.doc_to_text(doc)
        if not isinstance(text, str):
            raise SuiteError(f"task {name!r} renders its input as {type(text).__name__}, not text")
        prompts.append(text)
    return prompts
