"""Suites: lm-eval groups in `tasks/` that forgetbench runs as prior-capability benchmarks.

A suite is an lm-eval group YAML whose `metadata` carries `forgetbench_suite: true`, a
`description`, and the `primary_metric` of each member (a member may itself be an lm-eval group,
such as `mmlu`, whose leaf tasks share the member's metric). lm-eval drops YAML it cannot parse
without a word, so every member and leaf task is checked against the task index here and a missing
one is an error.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgetbench.core.errors import SuiteError

if TYPE_CHECKING:
    from lm_eval.tasks import TaskManager


@dataclass(frozen=True)
class SuiteTask:
    """One leaf lm-eval task of a suite."""

    name: str
    """lm-eval task name (leaf, e.g. `fb_mmlu_lite` or `mmlu_anatomy`)."""
    member: str
    """The suite member it belongs to (itself, or its group such as `mmlu`)."""
    metric: str
    """Primary metric reported and paired per item (e.g. `acc`, `exact_match`, `pass@1`)."""


@dataclass(frozen=True)
class Suite:
    """A resolved suite: its members and their leaf tasks, all registered in lm-eval."""

    name: str
    description: str
    members: tuple[str, ...]
    """Member names as listed in the group YAML."""
    tasks: tuple[SuiteTask, ...]
    """Leaf tasks in member order."""
    builtin: bool
    """True when some member comes from lm-eval's own task registry (needs include_defaults)."""
    yaml_path: Path


def tasks_dir() -> Path:
    """The `tasks/` folder: `$FORGETBENCH_TASKS_DIR`, else the one beside the package (editable install)."""
    env = os.environ.get("FORGETBENCH_TASKS_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "tasks"
    if not path.is_dir():
        raise SuiteError(f"tasks folder {path} not found; set FORGETBENCH_TASKS_DIR or install forgetbench with pip install -e")
    return path


def task_manager(include_defaults: bool) -> TaskManager:
    """lm-eval TaskManager over `tasks_dir()` (and lm-eval's own tasks when `include_defaults`)."""
    return _task_manager(include_defaults, str(tasks_dir()))


@functools.lru_cache(maxsize=4)
def _task_manager(include_defaults: bool, root: str) -> TaskManager:
    import logging

    from lm_eval.tasks import TaskManager

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    return TaskManager(include_path=root, include_defaults=include_defaults)


def _suite_entries(tm: TaskManager) -> dict[str, Any]:
    return {
        name: e
        for name, e in tm.task_index.items()
        if e.kind.name == "GROUP" and isinstance(e.cfg, dict) and (e.cfg.get("metadata") or {}).get("forgetbench_suite")
    }


def suite_names() -> list[str]:
    """Names of all suites defined in `tasks/`."""
    return sorted(_suite_entries(task_manager(False)))


def _children(tm: TaskManager, name: str) -> list[str]:
    entry = tm.task_index.get(name)
    if entry is None:
        return []
    if entry.kind.name == "GROUP":
        out = []
        for child in entry.cfg.get("task") or []:
            out.append(child if isinstance(child, str) else child.get("task") or child.get("group"))
        return out
    if entry.kind.name == "TAG":
        return sorted(entry.tags)
    return [name]


def _leaves(tm: TaskManager, name: str, suite: str) -> list[str]:
    entry = tm.task_index.get(name)
    if entry is None:
        raise SuiteError(
            f"suite {suite!r}: task {name!r} is not registered in lm-eval "
            "(unknown name, or its YAML failed to parse and lm-eval skipped it)"
        )
    if entry.kind.name in ("TASK", "PY_TASK"):
        return [name]
    return [leaf for child in _children(tm, name) for leaf in _leaves(tm, child, suite)]


def _single_task_suite(name: str) -> tuple[Suite, TaskManager]:
    """`task:NAME`: one lm-eval task as a suite, scored on the first metric of its metric_list."""
    task = name.removeprefix("task:")
    tm = task_manager(False)
    if task not in tm.task_index:
        tm = task_manager(True)
    entry = tm.task_index.get(task)
    if entry is None or entry.kind.name not in ("TASK", "PY_TASK"):
        raise SuiteError(f"{task!r} is not a registered lm-eval task")
    metrics = (entry.cfg or {}).get("metric_list") or []
    if not metrics or not isinstance(metrics[0].get("metric"), str):
        raise SuiteError(f"task {task!r} declares no metric, so it cannot be scored")
    st = SuiteTask(task, task, metrics[0]["metric"])
    return Suite(
        name, f"the single lm-eval task {task}", (task,), (st,), task not in task_manager(False).task_index, entry.yaml_path
    ), tm


def resolve_suite(name: str) -> tuple[Suite, TaskManager]:
    """Resolve suite `name` (or `task:NAME` for one lm-eval task), verifying every member and leaf
    task is registered."""
    if name.startswith("task:"):
        return _single_task_suite(name)
    local = task_manager(False)
    entries = _suite_entries(local)
    if name not in entries:
        raise SuiteError(f"unknown suite {name!r}; known suites: {', '.join(sorted(entries)) or '(none)'}")
    entry = entries[name]
    meta = entry.cfg["metadata"]
    members = tuple(_children(local, name))
    builtin = any(m not in local.task_index for m in members)
    tm = task_manager(True) if builtin else local
    metrics = meta.get("primary_metric") or {}
    tasks: list[SuiteTask] = []
    for member in members:
        if member not in metrics:
            raise SuiteError(f"suite {name!r}: no primary_metric given for member {member!r} in {entry.yaml_path}")
        tasks += [SuiteTask(leaf, member, metrics[member]) for leaf in _leaves(tm, member, name)]
    return Suite(name, meta.get("description", ""), members, tuple(tasks), builtin, entry.yaml_path), tm
