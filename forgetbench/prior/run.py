"""Run a suite on one model through lm-eval and keep per-task scores and per-item outcomes.

Each leaf task is one store entry keyed by (model fingerprint, task hash, lm-eval version,
backend, dtype, limit, few-shot, chat-template flag, seeds): scoring many checkpoints against one
base evaluates the base once, and an interrupted run keeps the tasks it finished. lm-eval's own
request cache is never used (it is not keyed by model).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from forgetbench import __version__
from forgetbench.config import EvalConfig
from forgetbench.errors import BackendError, SuiteError, UserInputError
from forgetbench.models import ResolvedModel, resolve
from forgetbench.prior.hashing import task_hash
from forgetbench.progress import Reporter
from forgetbench.prior.suites import SuiteTask, resolve_suite
from forgetbench.schema import SCHEMA_VERSION, EvalResult, EvalSettings, ItemOutcome, TaskResult
from forgetbench.store import Store, digest

NAMESPACE = "prior-v2"
SEEDS = {"random_seed": 0, "numpy_random_seed": 1234, "torch_random_seed": 1234, "fewshot_random_seed": 1234}
BACKENDS = ("hf", "vllm")

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


def _metric_key(results: dict, metric: str, task: str) -> str:
    keys = [k for k in results if k.split(",")[0] == metric]
    if not keys:
        raise SuiteError(f"task {task!r} reported no metric {metric!r} (it reported: {', '.join(results)})")
    return sorted(keys, key=lambda k: k != f"{metric},none")[0]


def _extract(out: dict, st: SuiteTask, multiple_choice: bool) -> tuple[float, list[ItemOutcome], float | None]:
    """Score, per-item outcomes and chance level (mean 1/#options for multiple choice, else None)."""
    results = out["results"][st.name]
    key = _metric_key(results, st.metric, st.name)
    filt = key.split(",", 1)[1] if "," in key else "none"
    samples = [s for s in out["samples"][st.name] if s.get("filter", "none") == filt]
    items = sorted(
        (ItemOutcome(st.name, int(s["doc_id"]), s["doc_hash"], float(s[st.metric])) for s in samples),
        key=lambda i: i.doc_id,
    )
    chance = float(sum(1 / len(s["arguments"]) for s in samples) / len(samples)) if multiple_choice and samples else None
    return float(results[key]), items, chance


def _write_entry(folder: Path, result: TaskResult) -> None:
    import pandas as pd

    meta = {k: v for k, v in result.__dict__.items() if k not in ("items", "cached")}
    (folder / "result.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    frame = pd.DataFrame([i.__dict__ for i in result.items], columns=["task", "doc_id", "doc_hash", "score"])
    frame.to_parquet(folder / "items.parquet", index=False)


def _read_entry(folder: Path) -> TaskResult:
    import pandas as pd

    meta = json.loads((folder / "result.json").read_text())
    frame = pd.read_parquet(folder / "items.parquet")
    items = tuple(
        ItemOutcome(str(r.task), int(r.doc_id), str(r.doc_hash), float(r.score)) for r in frame.itertuples(index=False)
    )
    return TaskResult(**meta, cached=True, items=items)


def _lm(config: EvalConfig, model: ResolvedModel, settings: EvalSettings):
    """lm-eval's model object for the configured backend (weights loaded now)."""
    from forgetbench.backends import hf

    if config.backend == "hf":
        return hf.lm_eval_model(model, settings.device, settings.dtype, config.batch_size)
    from forgetbench.backends import vllm, vllm_engine

    return vllm_engine.lm_eval_model(vllm.engine_kwargs(model, config.vllm, settings.dtype, settings.device, None), "auto")


def evaluate(config: EvalConfig, store: Store, reporter: Reporter | None = None, *, in_process: bool = False) -> EvalResult:
    """Evaluate `config.model` on `config.suite`, serving tasks from `store` when present.

    With `backend == "vllm"` the missing tasks run in a worker process that owns the engine
    (`in_process=True` is that worker's own call), then the results are read from the store."""
    import lm_eval

    from forgetbench.backends import hf

    reporter = reporter or Reporter()
    started = time.perf_counter()
    if config.backend not in BACKENDS:
        raise UserInputError(f"unknown backend {config.backend!r}; available: {', '.join(BACKENDS)}")
    if config.limit is not None and config.limit < 1:
        raise UserInputError(f"--limit must be a positive number of items, not {config.limit}")
    store.check_writable()
    engine = None
    if config.backend == "vllm":
        from forgetbench.backends import vllm

        vllm.check_lm_eval_can_find_vllm()
        vllm.check_options(config.vllm)
        engine = vllm.version()
    suite, tm = resolve_suite(config.suite)
    reporter.message(f"resolving model {config.model}")
    model = resolve(config.model, trust_remote_code=config.trust_remote_code)
    device = hf.default_device() if config.device == "auto" else config.device
    settings = EvalSettings(
        backend=config.backend,
        dtype=hf.resolve_dtype(config.dtype, device),
        device=device,
        limit=config.limit,
        num_fewshot=config.num_fewshot,
        chat_template=config.chat_template,
        batch_size=config.batch_size,
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
    thashes = {st.name: task_hash(built[st.name], config.limit) for st in suite.tasks}
    keys = {st.name: _cache_key(model, st, thashes[st.name], settings, engine) for st in suite.tasks}
    missing = [st for st in suite.tasks if store.get(NAMESPACE, keys[st.name]) is None]
    if missing and config.backend == "vllm" and not in_process:
        from dataclasses import asdict

        from forgetbench.backends import vllm

        job = {"kind": "prior", "config": asdict(config), "store": str(store.root)}
        vllm.run_worker(job, model.name, reporter)
    elif missing:
        reporter.message(f"loading {model.name} ({config.backend}, {settings.dtype}, {device}); {len(missing)} of {len(suite.tasks)} tasks to run")
        lm = _lm(config, model, settings)
        for i, st in enumerate(missing, 1):
            reporter.message(f"[{i}/{len(missing)}] {st.name}")
            out = lm_eval.simple_evaluate(
                model=lm,
                tasks=[built[st.name]],
                limit=config.limit,
                num_fewshot=config.num_fewshot,
                log_samples=True,
                bootstrap_iters=0,
                apply_chat_template=config.chat_template,
                confirm_run_unsafe_code=config.allow_code_execution,
                task_manager=tm,
                **SEEDS,
            )
            mc = built[st.name].config.output_type == "multiple_choice"
            score, items, chance = _extract(out, st, mc)
            result = TaskResult(
                st.name, st.member, st.metric, score, len(items), chance, thashes[st.name], keys[st.name], False, tuple(items)
            )
            store.put(NAMESPACE, keys[st.name], lambda folder, r=result: _write_entry(folder, r))
    tasks = []
    fresh = {st.name for st in missing}
    for st in suite.tasks:
        folder = store.get(NAMESPACE, keys[st.name])
        if folder is None:
            raise BackendError(f"{model.name}: task {st.name} finished without a stored result")
        entry = _read_entry(folder)
        tasks.append(entry if st.name not in fresh else TaskResult(**{**entry.__dict__, "cached": False}))
    return EvalResult(
        SCHEMA_VERSION, __version__, model.info(), suite.name, settings, tuple(tasks), time.perf_counter() - started
    )
