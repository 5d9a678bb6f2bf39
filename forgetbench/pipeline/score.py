"""`forgetbench score`: the main job.

1. Every check before compute: the run folder, the store, the KL half (prompts, models, shared
   vocabulary, tokenisation), both suite evaluations (suite, code-execution consent, task hashes),
   the policy of `--gate` and the leaderboard of `--law`.
2. The prior-capability suite on both models (from the store when present) and the new task's own
   metric when it is an lm-eval task; then the KL on its prompts.
3. Paired statistics, the typed report, the run folder; then `--gate` decides on that folder.

A KL-only policy (`max_kl` alone) skips the suites: the folder then holds `kl.json` and `kl.parquet`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from forgetbench.backends.base import Backend
from forgetbench.backends.registry import open_backend
from forgetbench.core.config import Executor, ScoreConfig
from forgetbench.core.errors import UserInputError
from forgetbench.core.progress import Reporter
from forgetbench.core.results import GateVerdict, KLResult, NewTaskScore, ScoreReport
from forgetbench.core.store import Store
from forgetbench.gate.policy import GatePolicy
from forgetbench.kl.plan import Plan
from forgetbench.kl.run import Extras, Passes, execute, summarise, weight_distance
from forgetbench.pipeline import law as law_job
from forgetbench.pipeline.executor import RayExecutor
from forgetbench.pipeline.gate import check_outputs, gate_run, resolve_policy
from forgetbench.pipeline.jobs import Graph
from forgetbench.pipeline.kl import plan_kl
from forgetbench.pipeline.meta import provenance
from forgetbench.pipeline.run_folder import ScoreRun, write_html, write_kl, write_score
from forgetbench.prior.retention import compare, pair, paired_change
from forgetbench.prior.run import EvalPlan, plan_eval, run_eval, suite_hash
from forgetbench.report.verdict import report_warnings, unresolved_floor, verdict
from forgetbench.runs import RunFolder


@dataclass(frozen=True)
class ScoreOutcome:
    """What `score` (or `compare`) did: the run folder, its report (None when a KL-only gate skipped the
    suites), the KL result (None for a `compare` without `--kl`), and the gate's verdict when a policy
    was given."""

    folder: Path
    report: ScoreReport | None
    kl: KLResult | None
    gate: GateVerdict | None


@dataclass(frozen=True)
class ScorePlan:
    """A score run, decided."""

    config: ScoreConfig
    kl: Plan
    base: EvalPlan
    ckpt: EvalPlan
    new_task: tuple[EvalPlan, EvalPlan] | None
    """The new task's own evaluation on both models, when it is an lm-eval task."""
    law_rows: object | None
    """Leaderboard rows the `--law` fit may use."""


def plan_score(config: ScoreConfig, store: Store, backend: Backend, reporter: Reporter) -> ScorePlan:
    """Every check of a score run, KL half first (cheap), before any model runs."""
    kl_plan = plan_kl(config.kl, store, backend, reporter)
    law_rows = law_job.rows(config.law, kl_plan.base.fingerprint.digest, kl_plan.ckpt.fingerprint.digest) if config.law else None
    base = plan_eval(config.eval, store, backend, reporter)
    ckpt = plan_eval(config.eval_of(config.ckpt), store, backend, reporter)
    new_task = None
    if config.kl.task is not None:
        task = f"task:{config.kl.task}"
        new_task = (
            plan_eval(replace(config.eval, suite=task, limit=None), store, backend, reporter),
            plan_eval(replace(config.eval_of(config.ckpt), suite=task, limit=None), store, backend, reporter),
        )
    return ScorePlan(config, kl_plan, base, ckpt, new_task, law_rows)


def _new_task_score(plan: ScorePlan, backend: Backend, store: Store, reporter: Reporter) -> NewTaskScore | None:
    if plan.new_task is None:
        return None
    reporter.message(f"new task {plan.config.kl.task}: both models")
    nb, nc = (run_eval(p, backend, store, reporter) for p in plan.new_task)
    b, c = pair(nb.tasks[0], nc.tasks[0])
    ci, _ = paired_change(b, c)
    return NewTaskScore(
        nb.tasks[0].task, nb.tasks[0].metric, len(b), 100 * float(b.mean()), 100 * float(c.mean()), ci.estimate, ci.low, ci.high
    )


def adapter_warnings(plan: ScorePlan) -> tuple[str, ...]:
    """The checkpoint adapter's base-match warning (`models.adapter.match_base`: a declared base that could
    not be compared here, or one with other weights measured with --allow-base-mismatch), when it has one."""
    adapter = plan.ckpt.model.adapter
    return (adapter.warning,) if adapter is not None and adapter.warning else ()


def distributed_extras(plan: Plan, passes: dict[str, Passes], reporter: Reporter) -> Extras:
    """A KL measured by distributed jobs: its old-task and reverse parts' passes, and the weight distance (read
    here from the weight files, as `kl.run.execute` does)."""
    weights, notes = weight_distance(plan, reporter) if plan.config.weight_distance else (None, ())
    old = (plan.old, passes["old"]) if plan.old is not None else None
    reverse = (plan.reverse, passes["reverse"]) if plan.reverse is not None else None
    return Extras(old, reverse, weights, notes)


def run_score(
    plan: ScorePlan, backend: Backend, store: Store, reporter: Reporter, kl_passes: dict[str, Passes] | None = None
) -> ScoreRun:
    """Run a planned score: both suites, the new task, the KL; the typed report (nothing written). With
    `kl_passes` (computed elsewhere, e.g. by Ray jobs), the KL is summarised from them instead of run."""
    started = time.perf_counter()
    config = plan.config
    backend.expect([plan.base.model, plan.ckpt.model])
    reporter.message(f"prior-capability suite {config.eval.suite}: base")
    base_eval = run_eval(plan.base, backend, store, reporter)
    reporter.message(f"prior-capability suite {config.eval.suite}: checkpoint")
    ckpt_eval = run_eval(plan.ckpt, backend, store, reporter)
    retention = compare(base_eval, ckpt_eval)
    new_score = _new_task_score(plan, backend, store, reporter)
    if kl_passes is None:
        kl_run = execute(plan.kl, backend, store, reporter)
    else:
        main = kl_passes["main"]
        kl_run = summarise(plan.kl, main, backend, sum(main.timings.values()), distributed_extras(plan.kl, kl_passes, reporter))
    head = kl_run.result.headline_estimate
    task_hashes = {t.task: t.task_hash for t in base_eval.tasks}
    suite = suite_hash(task_hashes)
    law = law_job.predict(config.law, plan.law_rows, suite, head.mean) if config.law else None
    report = ScoreReport(
        **provenance(),
        seed=config.kl.seed,
        base=base_eval.model,
        ckpt=ckpt_eval.model,
        suite=config.eval.suite,
        suite_hash=suite,
        task_hashes=task_hashes,
        settings=base_eval.settings,
        retention=retention,
        new_task=config.new_task,
        new_task_score=new_score,
        kl=kl_run.result,
        verdict=verdict(retention, head, new_score, unresolved_floor(kl_run.result)),
        elapsed_s=time.perf_counter() - started,
        law=law,
        warnings=report_warnings(retention, kl_run.result) + adapter_warnings(plan),
    )
    return ScoreRun(report, base_eval, ckpt_eval, kl_run)


def compute_score(
    config: ScoreConfig, store: Store, reporter: Reporter | None = None, ray: RayExecutor | None = None
) -> ScoreRun:
    """Plan and run a score; nothing is written (see `score` for the whole job). With `ray`, the work runs
    as jobs on its cluster and this process assembles the report from their results."""
    reporter = reporter or Reporter()
    with open_backend(config.eval.runtime) as backend:
        plan = plan_score(config, store, backend, reporter)
        passes = None
        if ray is not None:
            graph = Graph([plan], store)
            with ray:
                ray.run(graph, reporter)
            passes = graph.passes.get(0)
        return run_score(plan, backend, store, reporter, passes)


def check_predictor_rules(policy: GatePolicy, config: ScoreConfig) -> None:
    """Refuse, before any compute, a `[predictors]` rule on a predictor this run will not measure."""
    from forgetbench.gate.decide import how_to_measure
    from forgetbench.kl.predictors import planned

    missing = [name for name in policy.predictors if name not in planned(config.kl)]
    if missing:
        name = missing[0]
        raise UserInputError(f"the policy limits {name} (max_{name}), which this run will not measure: {how_to_measure(name)}")


def score(
    config: ScoreConfig,
    *,
    store: Store,
    out: Path | None = None,
    gate: Path | GatePolicy | None = None,
    policy_path: Path | None = None,
    junit: Path | None = None,
    reporter: Reporter | None = None,
    executor: Executor = "local",
    ray_address: str | None = None,
) -> ScoreOutcome:
    """The whole `forgetbench score` job: compute, write the run folder (`out`, default
    `runs/score-<time>/`), and decide `gate` (a policy file, or a parsed policy with its path) on it.
    `executor="ray"`: the work runs as jobs on the Ray cluster at `ray_address` (`pipeline.executor`)."""
    reporter = reporter or Reporter()
    gate, policy_path = resolve_policy(gate, policy_path)  # a bad policy stops here, before any compute
    ray = RayExecutor(config.eval.runtime, ray_address) if executor == "ray" else None  # no Ray: exit 2 now
    if ray is not None and gate is not None and gate.kl_only:
        raise UserInputError("a KL-only --gate policy runs the KL alone, here; drop --executor ray for it")
    check_outputs(junit)
    if gate is not None:
        check_predictor_rules(gate, config)
    folder = RunFolder.at(out, "score").prepare("kl" if gate is not None and gate.kl_only else "score").path
    kl_result: KLResult | None
    if gate is not None and gate.kl_only:
        with open_backend(config.kl.runtime) as backend:
            kl_run = execute(plan_kl(config.kl, store, backend, reporter), backend, store, reporter)
        report, kl_result = None, write_kl(kl_run, folder)
    else:
        run = compute_score(config, store, reporter, ray)
        report = write_score(run, folder)
        kl_result = report.kl
    verdict_ = gate_run(folder, gate, policy_path=policy_path, junit=junit) if gate is not None else None
    if verdict_ is not None:
        write_html(folder, verdict_)  # the page shows the gate's decision
    return ScoreOutcome(folder, report, kl_result, verdict_)
