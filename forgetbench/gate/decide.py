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
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forgetbench import __version__
from forgetbench.core.errors import DataError, ResultFileError
from forgetbench.core.results import SCHEMA_VERSION, GateVerdict, RuleVerdict
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


def load_inputs(run: Path) -> GateInputs:
    """Read a `score` or `compare` run folder (report.json, items.parquet, kl.parquet when it has a KL) or a
    KL-only one (kl.json, kl.parquet) through `runs.RunFolder`; the rows are checked against the summary they
    came with."""
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
    return GateInputs(run, base, ckpt, tasks, head.name, kl.direction, values, clusters)


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
    """The KL rule: its minimum sizes, MDE (nats/seq) and prompts needed (`stats.kl_mean`)."""


def _scaled(rule: str, what: str, margin: float, stat, alpha: float, n: int, units: str) -> _Measured:
    """A drop statistic (fractions of the metric) in points against a margin in points."""
    low, high = stat.interval(1 - 2 * alpha)
    m = margin / 100.0
    return _Measured(rule, what, "points", 100 * stat.estimate + 0.0, margin, 100 * low, 100 * high,
                     stat.p_within(m), stat.p_beyond(m), 100 * stat.se(), n, units, stat.method, sizing_of(stat))  # fmt: skip


def measure(inputs: GateInputs, policy: GatePolicy) -> list[_Measured]:
    """Every rule's statistic, tasks first, then `aggregate`, then `kl`."""
    alpha, out = policy.alpha, []
    for task, (b, c) in (inputs.tasks or {}).items():
        margin = policy.task_drop.get(task, policy.max_task_drop)
        if margin is not None:
            out.append(_scaled(f"task:{task}", f"drop on {task}", margin, task_drop(b, c), alpha, len(b), "items"))
    if policy.max_aggregate_drop is not None and inputs.tasks is not None:
        agg = forgetting(list(inputs.tasks.values()))
        n = sum(len(b) for b, _ in inputs.tasks.values())
        out.append(_scaled("aggregate", "forgetting F", policy.max_aggregate_drop, agg, alpha, n, "items"))
    if policy.max_kl is not None:
        test = mean_test(inputs.kl_values, inputs.kl_clusters, np.random.default_rng(policy.seed), policy.n_boot)
        low, high = test.interval(1 - 2 * alpha)
        rule = kl_rule(test, policy.max_kl, alpha, policy.fail_alpha(len(out) + 1), policy.seed)
        out.append(_Measured("kl", f"forward KL ({inputs.kl_name})", "nats/seq", test.estimate, policy.max_kl, low, high,
                             rule.p_within, rule.p_beyond, test.se(), test.n, "prompts", test.method, kl=rule))  # fmt: skip
    return out


def check_policy(policy: GatePolicy, run: Path | str, tasks: set[str] | None, kl_direction: str | None) -> None:
    """Refuse a policy the run cannot be decided by: task rules on a KL-only run (`tasks` None), a `max_kl`
    rule on a run without KL (`kl_direction` None) or with reverse KL, `task_drop` naming tasks the run lacks.
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


def decide(inputs: GateInputs, policy: GatePolicy, policy_path: Path | None = None) -> GateVerdict:
    """Apply every rule of `policy` to the run (`policy_path`, when given, is recorded with its hash)."""
    check_policy(policy, inputs.run, None if inputs.tasks is None else set(inputs.tasks), inputs.kl_direction)
    measured = measure(inputs, policy)
    adjusted = adjust([m.p_beyond for m in measured], policy.correction)
    fail_alpha = policy.fail_alpha(len(measured))
    rules = tuple(_verdict(m, p, policy, fail_alpha) for m, p in zip(measured, adjusted))
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
    if m.sizing is not None:  # task and aggregate rules: exact power under the stated data model
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
    head = f"{m.what} {m.estimate:.2f} {m.unit}, {level} interval [{m.low:.2f}, {m.high:.2f}], limit {m.margin:g}"
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
    catch = f"it would catch {mde:.1f} {m.unit} with 80% power" if math.isfinite(mde) else "no drop is caught with 80% power"
    return f"{head}: cannot tell at {m.n} {m.units} ({catch}); {more}"
