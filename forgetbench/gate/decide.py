"""Release gate: a policy file decides pass/fail from a saved run folder, with no model loaded.

Each rule compares one quantity with its limit (margin) by a one-sided bootstrap test on the run's
own rows (items.parquet: paired items; kl.parquet: per-sample KL), so the decision is reproducible
from the run folder alone:

- drop on a task = base − ckpt in points; items resampled jointly (the paired bootstrap);
- aggregate forgetting F = mean of the task drops; items resampled within each task;
- forward KL (the report's headline estimator), nats per sequence; prompts resampled (clusters).

`non-inferiority` (default) tests H0: value ≥ limit and passes the rule when H0 is rejected at α
(the one-sided upper bound is below the limit). `significant-drop` tests H0: value ≤ limit and fails
the rule when H0 is rejected (the lower bound is above the limit). The task rules form one family,
corrected by Holm (default), Bonferroni or not at all; `aggregate` and `kl` are single tests at α.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forgetbench import __version__
from forgetbench.core.errors import DataError, ResultFileError
from forgetbench.core.results import SCHEMA_VERSION, GateVerdict, RuleVerdict
from forgetbench.core.results_io import load_kl, load_report, verify_files
from forgetbench.gate.policy import GatePolicy
from forgetbench.stats.bootstrap import cluster_mean_draws, cluster_means
from forgetbench.stats.multiple import adjust
from forgetbench.stats.paired import delta_draws, forgetting_draws


@dataclass(frozen=True)
class GateInputs:
    """What the rules need from a run folder."""

    run: Path
    base: str
    ckpt: str
    tasks: dict[str, tuple[np.ndarray, np.ndarray]] | None
    """Paired per-item scores (base, ckpt) per task, or None for a KL-only run."""
    kl_name: str
    """The headline KL estimator."""
    kl_direction: str
    kl_values: np.ndarray
    """Per-sample values of the headline estimator."""
    kl_clusters: np.ndarray
    """Prompt index of each sample."""


def load_inputs(run: Path) -> GateInputs:
    """Read a `score` run folder (report.json, items.parquet, kl.parquet) or a KL-only one (kl.json,
    kl.parquet); the rows are checked against the summary they came with."""
    run = Path(run)
    if run.is_file():
        run = run.parent
    if not run.is_dir():
        raise DataError(f"no run folder at {run}")
    tasks = None
    if (run / "report.json").is_file():
        report = load_report(run)
        verify_files(report, run)
        kl, base, ckpt = report.kl, report.base.spec, report.ckpt.spec
        items = _read(run / "items.parquet", ("task", "doc_id", "base", "ckpt"))
        tasks = {}
        for t in report.retention.tasks:
            rows = items[items["task"] == t.task]
            b, c = rows["base"].to_numpy(np.float64), rows["ckpt"].to_numpy(np.float64)
            if len(rows) != t.n_items or abs(100 * (c.mean() - b.mean()) - t.delta) > 1e-6:
                raise ResultFileError(f"{run}/items.parquet does not match report.json on task {t.task}")
            tasks[t.task] = (b, c)
    elif (run / "kl.json").is_file():
        kl = load_kl(run)
        verify_files(kl, run)
        base, ckpt = kl.base.spec, kl.ckpt.spec
    else:
        raise DataError(f"{run} holds neither report.json nor kl.json (give a folder written by `score` or `kl`)")
    head = kl.headline_estimate
    rows = _read(run / "kl.parquet", ("prompt_index", head.name))
    values, clusters = rows[head.name].to_numpy(np.float64), rows["prompt_index"].to_numpy()
    if abs(cluster_means(values, clusters).mean() - head.mean) > 1e-6 * max(1.0, abs(head.mean)):
        raise ResultFileError(f"{run}/kl.parquet does not match the KL summary ({head.name})")
    return GateInputs(run, base, ckpt, tasks, head.name, kl.direction, values, clusters)


def _read(path: Path, columns: tuple[str, ...]):
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise DataError(f"{path} is missing") from None
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path} cannot be read ({type(exc).__name__})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {', '.join(missing)}")
    return frame


def _test(estimate: float, draws: np.ndarray, margin: float, policy: GatePolicy) -> tuple[float, float]:
    """(one-sided bound at 1 − α, bootstrap p-value of the mode's null)."""
    n = len(draws)
    if policy.mode == "non-inferiority":  # H0: value ≥ margin
        return float(np.quantile(draws, 1 - policy.alpha)) + 0.0, (1 + int((draws >= margin).sum())) / (n + 1)
    return float(np.quantile(draws, policy.alpha)) + 0.0, (1 + int((draws <= margin).sum())) / (n + 1)  # + 0.0: no "-0.00"


def _reason(
    what: str, unit: str, estimate: float, bound: float, margin: float, p_adj: float, passed: bool, policy: GatePolicy
) -> str:
    level = f"{100 * (1 - policy.alpha):g}%"
    if policy.mode == "non-inferiority":
        side = f"{level} upper bound {bound:.2f} {'<' if bound < margin else '≥'} limit {margin:g}"
        tail = "shown below the limit" if passed else "not shown to be below the limit"
    else:
        side = f"{level} lower bound {bound:.2f} {'>' if bound > margin else '≤'} limit {margin:g}"
        tail = "not significantly above the limit" if passed else "significantly above the limit"
    return f"{what} {estimate:.2f} {unit}; {side} (p {p_adj:.3g}): {tail}"


def decide(inputs: GateInputs, policy: GatePolicy, policy_path: Path | None = None) -> GateVerdict:
    """Apply every rule of `policy` to the run (`policy_path`, when given, is recorded with its hash)."""
    rng = np.random.default_rng(policy.seed)
    if policy.wants_tasks and inputs.tasks is None:
        raise DataError(f"{inputs.run} is a KL-only run, but the policy has task or aggregate rules")
    if policy.max_kl is not None and inputs.kl_direction != "forward":
        raise DataError(f"{inputs.run} measured {inputs.kl_direction} KL; the policy's max_kl is a forward-KL limit")
    unknown = sorted(set(policy.task_drop) - set(inputs.tasks or {}))
    if unknown:
        raise DataError(f"policy task_drop names task(s) not in the run: {', '.join(unknown)}")
    verdicts: list[RuleVerdict] = []
    task_rules = []
    for task, (b, c) in (inputs.tasks or {}).items():
        margin = policy.task_drop.get(task, policy.max_task_drop)
        if margin is None:
            continue
        estimate = 100.0 * float(b.mean() - c.mean())
        bound, p = _test(estimate, -delta_draws(b, c, rng, policy.n_boot), margin, policy)
        task_rules.append((task, estimate, margin, bound, p))
    adjusted = adjust([r[4] for r in task_rules], policy.correction)
    for (task, estimate, margin, bound, p), p_adj in zip(task_rules, adjusted):
        verdicts.append(_verdict(f"task:{task}", f"drop on {task}", "points", estimate, margin, bound, p, p_adj, policy))
    if policy.max_aggregate_drop is not None and inputs.tasks is not None:
        pairs = list(inputs.tasks.values())
        estimate = float(np.mean([100.0 * (b.mean() - c.mean()) for b, c in pairs]))
        bound, p = _test(estimate, forgetting_draws(pairs, rng, policy.n_boot), policy.max_aggregate_drop, policy)
        verdicts.append(_verdict("aggregate", "forgetting F", "points", estimate, policy.max_aggregate_drop, bound, p, p, policy))
    if policy.max_kl is not None:
        estimate = float(cluster_means(inputs.kl_values, inputs.kl_clusters).mean())
        draws = cluster_mean_draws(inputs.kl_values, inputs.kl_clusters, rng, policy.n_boot)
        bound, p = _test(estimate, draws, policy.max_kl, policy)
        verdicts.append(
            _verdict("kl", f"forward KL ({inputs.kl_name})", "nats/seq", estimate, policy.max_kl, bound, p, p, policy)
        )
    return GateVerdict(
        schema_version=SCHEMA_VERSION,
        forgetbench_version=__version__,
        passed=all(v.passed for v in verdicts),
        run=str(inputs.run),
        base=inputs.base,
        ckpt=inputs.ckpt,
        policy=str(policy_path or ""),
        policy_hash=hashlib.sha256(Path(policy_path).read_bytes()).hexdigest() if policy_path else "",
        mode=policy.mode,
        alpha=policy.alpha,
        correction=policy.correction,
        rules=tuple(verdicts),
    )


def _verdict(
    rule: str, what: str, unit: str, estimate: float, margin: float, bound: float, p: float, p_adj: float, policy: GatePolicy
) -> RuleVerdict:
    rejected = p_adj <= policy.alpha
    passed = rejected if policy.mode == "non-inferiority" else not rejected
    return RuleVerdict(
        rule, passed, estimate, margin, bound, p, p_adj, _reason(what, unit, estimate, bound, margin, p_adj, passed, policy)
    )
