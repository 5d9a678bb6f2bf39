"""Release gate: a policy file decides from a saved run folder, with no model loaded.

Each rule compares one quantity with its limit by two one-sided tests on the run's own rows
(items.parquet: paired items; kl.parquet: per-sample KL), so the decision is reproducible from the run
folder alone, and says one of three things:

- `pass`: shown within the limit (H0: value ≥ limit rejected at α). Not corrected for multiplicity: the
  gate passes only when every rule does, an intersection–union test whose wrong-pass rate is ≤ α.
- `fail`: shown beyond the limit (H0: value ≤ limit rejected at α after the policy's correction across
  every rule, Holm by default), so a checkpoint within all its limits fails with probability ≤ α.
- `inconclusive`: neither; `on_inconclusive` says what it means for the exit code, and the rule says
  what it could see (`mde`) and how many items would decide it (`n_needed`).

The tests (`stats`): drop on a 0/1 task, Tango's score test, continuity-corrected; on a graded task,
the paired t test (fewer than 3 items or no spread: undecided); aggregate F, a stratified score test.
Their `mde` and `n_needed` come from the exact (0/1, graded) or simulated (F) power under the data model
of `stats.sizing`, fitted to the run (a 0/1 task's background flips from the items it gained).
Forward KL (the report's headline estimator), a studentized bootstrap over prompts joined by the
hurdle-lognormal interval, with the minimum sizes and data model of `stats.kl_mean` (a pass needs
`MIN_PASS_PROMPTS` prompts; below, the rule is inconclusive and says how many would decide it).

Predictor rules (the policy's `[predictors]` table, `predictor:NAME`): a per-token divergence (TV, JS,
reverse per-token KL, activation distance, on new-task or prior-suite prompts) is decided like the KL, by
the same test and sizing on the per-prompt values of its column in kl.parquet (kl_old.parquet for `_old`);
a weight distance has no sampling error, so it passes at a value ≤ its limit and fails above it, never
inconclusive, and takes no part in the correction across rules (it cannot fail by chance).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from forgetbench import __version__
from forgetbench.core.errors import DataError, ResultFileError
from forgetbench.core.predictors import BY_NAME
from forgetbench.core.results import SCHEMA_VERSION, GateVerdict, KLResult, RuleVerdict
from forgetbench.gate.policy import GatePolicy
from forgetbench.runs import REPORT_KINDS, RunFolder, layout
from forgetbench.stats.bootstrap import cluster_means, mean_test
from forgetbench.stats.kl_mean import KlDecision, kl_rule
from forgetbench.stats.multiple import adjust
from forgetbench.stats.paired import forgetting, task_drop
from forgetbench.stats.sizing import Sizing, sizing_of


@dataclass(frozen=True)
class GateInputs:
    """What the rules need from a run folder."""

    run: Path
    base: str
    ckpt: str
    tasks: dict[str, tuple[np.ndarray, np.ndarray]] | None
    """Paired per-item scores (base, ckpt) per task, or None for a KL-only run."""
    kl_name: str | None
    """The headline KL estimator (None: the run has no KL, a `compare` of lm-eval logs without `--kl`)."""
    kl_direction: str | None
    kl_values: np.ndarray
    """Per-sample values of the headline estimator."""
    kl_clusters: np.ndarray
    """Prompt index of each sample."""
    measured: tuple[str, ...] = ()
    """The predictors of forgetting the run reports (`core.predictors` names)."""
    predictors: dict[str, PredictorSample] = field(default_factory=dict)
    """The measured predictors read for rules (`load_inputs`' `predictors`), by name."""
    notes: tuple[str, ...] = ()
    """What the run was asked for but did not measure, and why (`KLResult.predictor_notes`)."""


@dataclass(frozen=True)
class PredictorSample:
    """One predictor as its rule reads it: the reported value and, for a per-token divergence, its
    per-sample values and their prompts (a weight distance has none: no sampling error)."""

    name: str
    value: float
    """The reported value, in the predictor's unit (`core.predictors`)."""
    values: np.ndarray | None = None
    """Per-sample values of its kl.parquet (or kl_old.parquet) column, per sequence; None for a weight distance."""
    clusters: np.ndarray | None = None
    """Prompt index of each sample."""


def how_to_measure(name: str) -> str:
    """What measures predictor `name`, for the line refusing a rule on a run that lacks it."""
    p = BY_NAME[name]
    if p.inputs == "old":
        return "score with --old-task-prompts N (prompts drawn from the prior suite's items)"
    if p.inputs == "weights":
        return "measure with --weight-distance (the default of a run that writes the predictors table)"
    if name == "kl_reverse_new":
        return "measure with --direction reverse or both"
    return "measure forward KL with the full estimator (a reverse run, or one written before the predictors table, has only its headline KL)"


def column_of(name: str) -> str:
    """The rows column of a per-token predictor: its catalog name without `_new`/`_old`, `full` for the
    forward KL (`kl_forward_old` is kl_old.parquet's `full`)."""
    key = name.rsplit("_", 1)[0]
    return "full" if key == "kl_forward" else key


def _predictor_sample(folder: RunFolder, kl: KLResult, name: str) -> PredictorSample:
    """Predictor `name` of the run (measured): its reported value and its rows, checked against each other."""
    reported = kl.predictor(name)
    assert reported is not None
    p = BY_NAME[name]
    if p.inputs == "weights":
        return PredictorSample(name, reported.value)
    if name == "kl_reverse_new" and kl.direction == "reverse":  # the sequence-level reverse KL: the headline
        column, read, file = kl.headline, folder.kl_rows, folder.kl_rows_file
    elif name == "kl_reverse_new":  # --direction both: the checkpoint's own samples' rows
        column, file = "full", folder.path / layout.KL_REVERSE_ROWS
        read = partial(folder.side_rows, layout.KL_REVERSE_ROWS)
    elif p.inputs == "old":
        column, file = column_of(name), folder.path / layout.KL_OLD_ROWS
        read = partial(folder.side_rows, layout.KL_OLD_ROWS)
    else:
        column, read, file = column_of(name), folder.kl_rows, folder.kl_rows_file
    rows = read(("prompt_index", column))
    values, clusters = rows[column].to_numpy(np.float64), rows["prompt_index"].to_numpy()
    if abs(cluster_means(values, clusters).mean() - reported.value) > 1e-6 * max(1.0, abs(reported.value)):
        raise ResultFileError(f"{file} does not match the predictors table ({name})")
    return PredictorSample(name, reported.value, values, clusters)


def load_inputs(run: Path, predictors: Iterable[str] = ()) -> GateInputs:
    """Read a `score` or `compare` run folder (report.json, items.parquet, kl.parquet when it has a KL) or a
    KL-only one (kl.json, kl.parquet) through `runs.RunFolder`; the rows are checked against the summary they
    came with. `predictors`: the predictors whose rows to read as well (those the run measured; a rule on
    one it did not is refused by `check_policy`)."""
    folder = RunFolder.of(run)
    run = folder.path
    if not run.is_dir():
        raise DataError(f"no run folder at {run}")
    tasks = None
    kind = folder.kind
    if kind in REPORT_KINDS:
        report = folder.report()
        kl, base, ckpt = report.kl, report.base.spec, report.ckpt.spec
        items = folder.items(("task", "doc_id", "base", "ckpt"))
        tasks = {}
        for t in report.retention.tasks:
            rows = items[items["task"] == t.task]
            b, c = rows["base"].to_numpy(np.float64), rows["ckpt"].to_numpy(np.float64)
            if len(rows) != t.n_items or abs(100 * (c.mean() - b.mean()) - t.delta) > 1e-6:
                raise ResultFileError(f"{folder.items_file} does not match {folder.report_file.name} on task {t.task}")
            tasks[t.task] = (b, c)
    elif kind == "kl":
        kl = folder.kl_result()
        base, ckpt = kl.base.spec, kl.ckpt.spec
    else:
        raise DataError(
            f"{run} holds neither {layout.REPORT} nor {layout.KL} (give a folder written by `score`, `compare` or `kl`)"
        )
    if kl is None:  # a `compare` of lm-eval logs without --kl
        return GateInputs(run, base, ckpt, tasks, None, None, np.zeros(0), np.zeros(0, dtype=int))
    head = kl.headline_estimate
    rows = folder.kl_rows(("prompt_index", head.name))
    values, clusters = rows[head.name].to_numpy(np.float64), rows["prompt_index"].to_numpy()
    if abs(cluster_means(values, clusters).mean() - head.mean) > 1e-6 * max(1.0, abs(head.mean)):
        raise ResultFileError(f"{folder.kl_rows_file} does not match the KL summary ({head.name})")
    measured = tuple(p.name for p in kl.predictors)
    samples = {n: _predictor_sample(folder, kl, n) for n in dict.fromkeys(predictors) if n in measured}
    notes = tuple(kl.predictor_notes)
    return GateInputs(run, base, ckpt, tasks, head.name, kl.direction, values, clusters, measured, samples, notes)


@dataclass(frozen=True)
class _Measured:
    """One rule's statistic before the decision: value, interval, both p-values, what sizes it."""

    rule: str
    what: str
    unit: str
    estimate: float
    margin: float
    low: float
    high: float
    p_within: float
    p_beyond: float
    se: float
    n: int
    units: str
    method: str
    sizing: Sizing | None = None
    """Task and aggregate rules: the data model fitted to the run (`stats.sizing`), whose exact power
    states the MDE and the items needed (drops as fractions)."""
    kl: KlDecision | None = None
    """The KL rule and per-token predictor rules: minimum sizes, MDE and prompts needed (`stats.kl_mean`)."""
    exact: bool = False
    """A weight-distance rule: no sampling error, decided by value ≤ limit (p-values 0 or 1)."""
    spec: str = ".2f"
    """How the value and its interval are printed in the reason."""


def _scaled(rule: str, what: str, margin: float, stat, alpha: float, n: int, units: str) -> _Measured:
    """A drop statistic (fractions of the metric) in points against a margin in points."""
    low, high = stat.interval(1 - 2 * alpha)
    m = margin / 100.0
    return _Measured(rule, what, "points", 100 * stat.estimate + 0.0, margin, 100 * low, 100 * high,
                     stat.p_within(m), stat.p_beyond(m), 100 * stat.se(), n, units, stat.method, sizing_of(stat))  # fmt: skip


def statistical_rules(inputs: GateInputs, policy: GatePolicy) -> int:
    """The rules with sampling error the policy applies to this run (the family of its fail-side correction):
    task, aggregate, KL and per-token predictor rules; a weight-distance rule cannot fail by chance."""
    tasks = sum(policy.task_drop.get(t, policy.max_task_drop) is not None for t in inputs.tasks or {})
    aggregate = policy.max_aggregate_drop is not None and inputs.tasks is not None
    per_token = sum(BY_NAME[n].inputs != "weights" for n in policy.predictors)
    return tasks + aggregate + (policy.max_kl is not None) + per_token


def measure(inputs: GateInputs, policy: GatePolicy, sizing: bool = True) -> list[_Measured]:
    """Every rule's statistic, tasks first, then `aggregate`, then `kl`, then predictor rules (catalog order);
    without `sizing`, the KL-type rules skip their MDE and prompts-needed simulations (`kl_rule`)."""
    alpha, out = policy.alpha, []
    fail_alpha = policy.fail_alpha(statistical_rules(inputs, policy))
    for task, (b, c) in (inputs.tasks or {}).items():
        margin = policy.task_drop.get(task, policy.max_task_drop)
        if margin is not None:
            out.append(_scaled(f"task:{task}", f"drop on {task}", margin, task_drop(b, c), alpha, len(b), "items"))
    if policy.max_aggregate_drop is not None and inputs.tasks is not None:
        agg = forgetting(list(inputs.tasks.values()))
        n = sum(len(b) for b, _ in inputs.tasks.values())
        out.append(_scaled("aggregate", "forgetting F", policy.max_aggregate_drop, agg, alpha, n, "items"))
    if policy.max_kl is not None:
        out.append(_sampled("kl", f"forward KL ({inputs.kl_name})", "nats/seq", inputs.kl_values, inputs.kl_clusters,
                            policy.max_kl, policy, fail_alpha, "prompts", ".2f", sizing))  # fmt: skip
    for name in sorted(policy.predictors, key=list(BY_NAME).index):
        out.append(_predictor(inputs.predictors[name], policy.predictors[name], policy, fail_alpha, sizing))
    return out


def _sampled(rule: str, what: str, unit: str, values: np.ndarray, clusters: np.ndarray, limit: float,
             policy: GatePolicy, fail_alpha: float, units: str, spec: str, sizing: bool = True) -> _Measured:  # fmt: skip
    """A mean over prompts against `limit` by the KL rule (`stats.kl_mean.kl_rule`)."""
    test = mean_test(values, clusters, np.random.default_rng(policy.seed), policy.n_boot)
    low, high = test.interval(1 - 2 * policy.alpha)
    rule_ = kl_rule(test, limit, policy.alpha, fail_alpha, policy.seed, "KL" if rule == "kl" else what, sizing)
    return _Measured(rule, what, unit, test.estimate, limit, low, high, rule_.p_within, rule_.p_beyond, test.se(),
                     test.n, units, test.method, kl=rule_, spec=spec)  # fmt: skip


def _predictor(sample: PredictorSample, limit: float, policy: GatePolicy, fail_alpha: float, sizing: bool = True) -> _Measured:
    """A `[predictors]` rule: a per-token divergence as the KL rule; a weight distance by value ≤ limit."""
    p = BY_NAME[sample.name]
    rule = f"predictor:{sample.name}"
    if sample.values is None or sample.clusters is None:  # a weight distance: no sampling error
        v, within = sample.value, sample.value <= limit
        return _Measured(rule, sample.name, p.unit, v, limit, v, v, 0.0 if within else 1.0, 1.0 if within else 0.0,
                         0.0, 1, "checkpoints", "exact (weight distance, no sampling error)", exact=True, spec=".3g")  # fmt: skip
    units = "prior-suite prompts" if p.inputs == "old" else "prompts"
    return _sampled(rule, sample.name, p.unit, sample.values, sample.clusters, limit, policy, fail_alpha, units, ".3g", sizing)


def check_policy(
    policy: GatePolicy,
    run: Path | str,
    tasks: set[str] | None,
    kl_direction: str | None,
    measured: Collection[str] | None = None,
    notes: Iterable[str] = (),
) -> None:
    """Refuse a policy the run cannot be decided by: task rules on a KL-only run (`tasks` None), a `max_kl`
    rule on a run without KL (`kl_direction` None) or with reverse KL, `task_drop` naming tasks the run lacks,
    a predictor rule on a predictor the run did not measure (`measured`: the names it reports; None: not
    checked here; `notes`, the run's `name: why` for predictors it was asked for and could not measure).
    `decide` calls it; a job calls it before writing its run folder."""
    if policy.wants_tasks and tasks is None:
        raise DataError(f"{run} is a KL-only run, but the policy has task or aggregate rules")
    if policy.max_kl is not None and kl_direction is None:
        raise DataError(f"{run} has no KL (a comparison of lm-eval logs without --kl); the policy has a max_kl rule")
    if policy.max_kl is not None and kl_direction != "forward":
        raise DataError(f"{run} measured {kl_direction} KL; the policy's max_kl is a forward-KL limit")
    unknown = sorted(set(policy.task_drop) - set(tasks or ()))
    if unknown:
        raise DataError(f"policy task_drop names task(s) not in {run}: {', '.join(unknown)}")
    if measured is not None:
        for name in sorted(policy.predictors, key=list(BY_NAME).index):
            if name not in measured:
                why = next((n.split(":", 1)[1].strip() for n in notes if n.split(":", 1)[0] == name), None)
                how = f"it was not measured: {why}" if why else how_to_measure(name)
                raise DataError(f"{run} has no {name}, which the policy limits (max_{name}): {how}")


def decide(inputs: GateInputs, policy: GatePolicy, policy_path: Path | None = None, sizing: bool = True) -> GateVerdict:
    """Apply every rule of `policy` to the run (`policy_path`, when given, is recorded with its hash). Without
    `sizing` (simulations of the outcome alone, `gate.power`), undecided KL-type rules state no MDE or
    prompts needed; every status and p-value is the same."""
    tasks = None if inputs.tasks is None else set(inputs.tasks)
    check_policy(policy, inputs.run, tasks, inputs.kl_direction, inputs.measured, inputs.notes)
    missing = sorted(set(policy.predictors) - set(inputs.predictors))
    if missing:
        raise DataError(f"{inputs.run}: the rows of {missing[0]} were not read (load_inputs(run, predictors=...))")
    measured = measure(inputs, policy, sizing)
    sampled = [m for m in measured if not m.exact]  # weight distances cannot fail by chance: not in the family
    adjusted = iter(adjust([m.p_beyond for m in sampled], policy.correction))
    p_beyond = [m.p_beyond if m.exact else next(adjusted) for m in measured]
    fail_alpha = policy.fail_alpha(len(sampled))
    rules = tuple(_verdict(m, p, policy, fail_alpha) for m, p in zip(measured, p_beyond))
    status = (
        "fail"
        if any(r.status == "fail" for r in rules)
        else "inconclusive"
        if any(r.status == "inconclusive" for r in rules)
        else "pass"
    )
    return GateVerdict(
        schema_version=SCHEMA_VERSION,
        forgetbench_version=__version__,
        passed=all(r.passed for r in rules),
        status=status,
        run=str(inputs.run),
        base=inputs.base,
        ckpt=inputs.ckpt,
        policy=str(policy_path or ""),
        policy_hash=hashlib.sha256(Path(policy_path).read_bytes()).hexdigest() if policy_path else "",
        on_inconclusive=policy.on_inconclusive,
        alpha=policy.alpha,
        correction=policy.correction,
        rules=rules,
    )


def _verdict(m: _Measured, p_beyond: float, policy: GatePolicy, fail_alpha: float) -> RuleVerdict:
    alpha = policy.alpha
    status = "fail" if p_beyond <= alpha else "pass" if m.p_within <= alpha else "inconclusive"
    gap = m.estimate - m.margin
    needed = None
    if m.exact:  # a weight distance: nothing to detect, nothing more to measure
        mde = math.nan
    elif m.sizing is not None:  # task and aggregate rules: exact power under the stated data model
        found = m.sizing.mde(m.margin / 100, fail_alpha)
        mde = math.nan if found is None else 100 * found
        if status == "inconclusive":
            needed = m.sizing.needed(m.estimate / 100, m.margin / 100, fail_alpha if gap > 0 else alpha)
    else:  # the KL rule (every rule has `sizing` or `kl`): its own minimum sizes and simulated power
        assert m.kl is not None
        mde, needed = m.kl.mde, m.kl.needed if status == "inconclusive" else None
    return RuleVerdict(
        rule=m.rule,
        status=status,
        passed=status == "pass" or (status == "inconclusive" and policy.on_inconclusive == "pass"),
        estimate=m.estimate,
        margin=m.margin,
        low=m.low,
        high=m.high,
        p_within=m.p_within,
        p_beyond=p_beyond,
        mde=mde,
        n_needed=needed,
        method=m.method,
        reason=_reason(m, status, p_beyond, mde, needed, alpha),
    )


def _reason(m: _Measured, status: str, p_beyond: float, mde: float, needed: int | None, alpha: float) -> str:
    level = f"{100 * (1 - 2 * alpha):g}%"
    if m.exact:
        side = "within" if status == "pass" else "beyond"
        return (f"{m.what} {m.estimate:{m.spec}} {m.unit}, limit {m.margin:g}: {side} the limit (a weight distance has "
                "no sampling error: decided by its value, never inconclusive)")  # fmt: skip
    head = (f"{m.what} {m.estimate:{m.spec}} {m.unit}, {level} interval [{m.low:{m.spec}}, {m.high:{m.spec}}], "
            f"limit {m.margin:g}")  # fmt: skip
    if status == "pass":
        return f"{head}: shown within the limit (p {m.p_within:.3g})"
    if status == "fail":
        return f"{head}: shown beyond the limit (adjusted p {p_beyond:.3g})"
    undecided = m.sizing.undecided if m.sizing is not None else m.kl.note if m.kl is not None else ""
    if undecided:
        more = f"; about {needed} {m.units} would decide it" if m.kl is not None and needed is not None else ""
        return f"{head}: cannot tell at {m.n} {m.units}: {undecided}{more}"
    if needed is not None:
        more = f"about {needed} {m.units} would decide it"
    else:  # at the limit, or a change the data model has no room for (a gain on most of a task's items)
        more = (
            "a value at the limit is never decided"
            if m.estimate == m.margin
            else "the data model cannot size a change this large"
        )
    shown = f"{mde:.1f}" if m.spec == ".2f" else f"{mde:.3g}"
    catch = f"it would catch {shown} {m.unit} with 80% power" if math.isfinite(mde) else "no drop is caught with 80% power"
    return f"{head}: cannot tell at {m.n} {m.units} ({catch}); {more}"
