"""Run a suite on one model through lm-eval and keep per-task scores and per-item outcomes.

Each leaf task is one store entry keyed by (model fingerprint, task hash, lm-eval version,
backend, engine version, dtype, limit, few-shot, chat-template flag, seeds): scoring many
checkpoints against one base evaluates the base once, and an interrupted run keeps the tasks it
finished. `plan_eval` checks everything before compute; `run_eval` runs the missing tasks one at a
time through the backend (`Backend.run_task`) and writes each to the store as soon as it is done.
The caller owns the backend (and closes it): models stay loaded for what it runs next.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from forgetbench import __version__
from forgetbench.backends.base import NonFiniteLoglikelihoods, SampleRecord, TaskOutput, TaskRequest
from forgetbench.backends.lm_eval_samples import checked
from forgetbench.backends.registry import open_backend
from forgetbench.core.errors import BackendError, SuiteError
from forgetbench.core.hashing import digest
from forgetbench.core.progress import Reporter
from forgetbench.core.results import SCHEMA_VERSION, EvalResult, EvalSettings, ItemOutcome, TaskResult
from forgetbench.core.results_io import build, read_json
from forgetbench.core.rows import EVIDENCE_COLUMNS, evidence_of, evidence_row
from forgetbench.models.spec import resolve
from forgetbench.prior.hashing import task_hash
from forgetbench.prior.suites import Suite, SuiteTask, resolve_suite, tasks_dir
from forgetbench.runs.layout import ENTRY_ITEMS, ENTRY_RESULT

if TYPE_CHECKING:
    from forgetbench.backends.base import Backend
    from forgetbench.core.config import EvalConfig
    from forgetbench.core.model import ResolvedModel
    from forgetbench.core.store import Store

NAMESPACE = "prior-v3"  # v3: keyed by version-2 fingerprints (v2 entries are stale: `forgetbench clean`)
SEEDS = {"random_seed": 0, "numpy_random_seed": 1234, "torch_random_seed": 1234, "fewshot_random_seed": 1234}


@dataclass(frozen=True)
class EvalPlan:
    """A suite evaluation, decided: the model, its tasks with their hashes and store keys."""

    config: EvalConfig
    model: ResolvedModel
    suite: Suite
    settings: EvalSettings
    hashes: dict[str, str]
    """Task name → content hash."""
    keys: dict[str, str]
    """Task name → store key."""


def _cache_key(model: ResolvedModel, st: SuiteTask, thash: str, settings: EvalSettings, engine: str | None) -> str:
    return digest(
        {
            **({"engine_version": engine} if engine else {}),
            "model": model.fingerprint.digest,
            "task": st.name,
            "task_hash": thash,
            "metric": st.metric,
            "lm_eval": settings.lm_eval_version,
            "backend": settings.backend,
            "dtype": settings.dtype,
            "limit": settings.limit,
            "num_fewshot": settings.num_fewshot,
            "chat_template": settings.chat_template,
            "seeds": settings.seeds,
        }
    )


def metric_key(results: dict[str, float], metric: str, task: str) -> str:
    keys = [k for k in results if k.split(",")[0] == metric]
    if not keys:
        raise SuiteError(f"task {task!r} reported no metric {metric!r} (it reported: {', '.join(results)})")
    return sorted(keys, key=lambda k: k != f"{metric},none")[0]


def filter_of(key: str) -> str:
    """The filter of a `metric,filter` results key (`none` when it names none)."""
    return key.split(",", 1)[1] if "," in key else "none"


def outcome(st: SuiteTask, s: SampleRecord) -> ItemOutcome:
    """One sample's outcome on the task's metric, with its evidence squared with the outcome (`checked`)."""
    value = s.metrics[st.metric]
    ev = None if s.evidence is None else checked(s.evidence, value)
    return ItemOutcome(st.name, s.doc_id, s.doc_hash, value, ev)


def extract(output: TaskOutput, st: SuiteTask) -> tuple[float, list[ItemOutcome], float | None]:
    """Score, per-item outcomes and chance level (mean 1/#options for multiple choice, else None)."""
    key = metric_key(output.results, st.metric, st.name)
    filt = filter_of(key)
    samples = [s for s in output.samples if s.filter == filt]
    missing = next((s.doc_id for s in samples if st.metric not in s.metrics), None)
    if missing is not None:
        raise SuiteError(f"task {st.name!r}: doc {missing} has no per-item value of {st.metric!r}")
    items = sorted((outcome(st, s) for s in samples), key=lambda i: i.doc_id)
    mc = output.output_type == "multiple_choice"
    chance = float(sum(1 / s.n_choices for s in samples) / len(samples)) if mc and samples else None
    return output.results[key], items, chance


def _write_entry(folder: Path, result: TaskResult) -> None:
    import pandas as pd

    meta = {k: v for k, v in result.__dict__.items() if k not in ("items", "cached")}
    (folder / ENTRY_RESULT).write_text(json.dumps(meta, indent=2, sort_keys=True))
    rows = [{"task": i.task, "doc_id": i.doc_id, "doc_hash": i.doc_hash, "score": i.score, **evidence_row(i.evidence)}
            for i in result.items]  # fmt: skip
    pd.DataFrame(rows, columns=["task", "doc_id", "doc_hash", "score", *EVIDENCE_COLUMNS]).to_parquet(
        folder / ENTRY_ITEMS, index=False
    )


def _read_entry(folder: Path, cached: bool) -> TaskResult:
    import pandas as pd

    meta = read_json(folder / ENTRY_RESULT)
    frame = pd.read_parquet(folder / ENTRY_ITEMS)
    items = [ItemOutcome(str(r["task"]), int(r["doc_id"]), str(r["doc_hash"]), float(r["score"]), evidence_of(r))
             for r in frame.to_dict("records")]  # fmt: skip
    data = {**(meta if isinstance(meta, dict) else {}), "cached": cached, "items": []}
    entry = build(TaskResult, data, str(folder / ENTRY_RESULT))
    return TaskResult(**{**entry.__dict__, "items": tuple(items)})


def plan_eval(config: EvalConfig, store: Store, backend: Backend, reporter: Reporter | None = None) -> EvalPlan:
    """Check the store, suite, model and code-execution consent; hash the tasks (no model is loaded)."""
    import lm_eval

    reporter = reporter or Reporter()
    store.check_writable((NAMESPACE,))
    suite, tm = resolve_suite(config.suite)
    reporter.message(f"resolving model {config.model}")
    trust = config.runtime.trust_remote_code
    base = resolve(config.base, trust_remote_code=trust) if config.base is not None else None
    model = resolve(config.model, trust_remote_code=trust, base=base, allow_base_mismatch=config.allow_base_mismatch)
    settings = EvalSettings(
        backend=backend.name,
        dtype=backend.dtype,
        device=backend.device,
        limit=config.limit,
        num_fewshot=config.num_fewshot,
        chat_template=config.chat_template,
        batch_size=config.runtime.batch_size,
        seeds=SEEDS,
        lm_eval_version=lm_eval.__version__,
    )
    reporter.message(f"building {len(suite.tasks)} tasks of suite {suite.name}")
    built = tm.load([st.name for st in suite.tasks])["tasks"]
    unsafe = [st.name for st in suite.tasks if built[st.name].config.unsafe_code]
    if unsafe and not config.allow_code_execution:
        raise SuiteError(
            f"suite {suite.name!r} runs model-generated code ({', '.join(unsafe)}); "
            "pass --allow-code-execution to run it in a limited subprocess"
        )
    hashes = {st.name: task_hash(built[st.name], config.limit) for st in suite.tasks}
    keys = {st.name: _cache_key(model, st, hashes[st.name], settings, backend.version()) for st in suite.tasks}
    return EvalPlan(config, model, suite, settings, hashes, keys)


def suite_hash(task_hashes: dict[str, str]) -> str:
    """The identity of a suite's contents: sha256 over its task names and content hashes."""
    return digest(sorted(task_hashes.items()))


def _request(plan: EvalPlan, st: SuiteTask) -> TaskRequest:
    c = plan.config
    return TaskRequest(st.name, str(tasks_dir()), plan.suite.builtin, c.limit, c.num_fewshot, c.chat_template,
                       c.allow_code_execution, dict(SEEDS), st.metric)  # fmt: skip


def missing_tasks(plan: EvalPlan, store: Store) -> list[SuiteTask]:
    """The plan's tasks whose results are not in the store."""
    return [st for st in plan.suite.tasks if store.get(NAMESPACE, plan.keys[st.name]) is None]


def check_finite_items(
    model: str, items: list[ItemOutcome] | tuple[ItemOutcome, ...], after: str = "its result was not stored"
) -> None:
    """A NaN or infinite item score stops the run (BackendError, exit 3) naming the model, the task and the
    item: averaged in, it would turn a 0/1 task into a graded one and every statistic after it into NaN."""
    bad = next((i for i in items if not math.isfinite(i.score)), None)
    if bad is not None:
        raise BackendError(
            f"{model}: task {bad.task}, item doc_id {bad.doc_id}: the task's metric scored it {bad.score} "
            f"(not a finite number); {after}"
        )


def evaluate_task(plan: EvalPlan, st: SuiteTask, backend: Backend, reporter: Reporter) -> TaskResult:
    """One task of the plan on its model, through the backend (nothing is stored: `store_task` does that)."""
    try:
        output = backend.run_task(plan.model, _request(plan, st), reporter)
    except NonFiniteLoglikelihoods as exc:
        raise BackendError(f"{plan.model.name} produced {exc}") from None
    score, items, chance = extract(output, st)
    check_finite_items(plan.model.name, items)
    return TaskResult(st.name, st.member, st.metric, score, len(items), chance, plan.hashes[st.name], plan.keys[st.name],
                      False, tuple(items))  # fmt: skip


def store_task(store: Store, result: TaskResult) -> None:
    """A task's result as its store entry (atomic; kept by whoever wrote it first)."""
    store.put(NAMESPACE, result.cache_key, partial(_write_entry, result=result))


def run_eval(plan: EvalPlan, backend: Backend, store: Store, reporter: Reporter | None = None) -> EvalResult:
    """Run the plan's tasks that are not in the store, then read every task back from the store."""
    reporter = reporter or Reporter()
    started = time.perf_counter()
    missing = missing_tasks(plan, store)
    if missing:
        reporter.message(
            f"{plan.model.name}: {len(missing)} of {len(plan.suite.tasks)} tasks to run "
            f"({backend.name}, {backend.dtype}, {backend.device})"
        )
    for i, st in enumerate(missing, 1):
        reporter.message(f"[{i}/{len(missing)}] {st.name}")
        store_task(store, evaluate_task(plan, st, backend, reporter))
    fresh = {st.name for st in missing}
    tasks = []
    for st in plan.suite.tasks:
        folder = store.get(NAMESPACE, plan.keys[st.name])
        if folder is None:
            raise BackendError(f"{plan.model.name}: task {st.name} finished without a stored result")
        entry = _read_entry(folder, cached=st.name not in fresh)
        check_finite_items(
            plan.model.name, entry.items, f"read from the stored result {folder}: delete that folder to rerun the task"
        )
        tasks.append(entry)
    return EvalResult(
        SCHEMA_VERSION,
        __version__,
        plan.model.info(),
        plan.suite.name,
        plan.settings,
        tuple(tasks),
        time.perf_counter() - started,
    )


def evaluate(config: EvalConfig, store: Store, reporter: Reporter | None = None) -> EvalResult:
    """Evaluate `config.model` on `config.suite`, serving tasks from `store` when present."""
    with open_backend(config.runtime) as backend:
        return run_eval(plan_eval(config, store, backend, reporter), backend, store, reporter)
