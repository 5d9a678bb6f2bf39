"""`forgetbench plan`: what a suite and a policy can decide, before anything runs.

Per rule, at the suite's sizes (read from `tasks/`), with the α split `gate` uses: the minimum
detectable value (the smallest drop, or KL, the rule fails with 80% power at α / rules, Holm's first
step, as `gate` fails a lone rule) and the items (prompts) needed: for a limit above 0, those at which a
checkpoint with no drop is shown within it with 80% power at α (`gate`'s pass side is an
intersection–union test, not divided); for a limit of 0 or below, where no drop can be shown within it,
those at which a drop of `drop` points is shown beyond it. Task and aggregate rules state the exact
power under `stats.sizing`'s data model; the spread comes from a pilot run folder when given (each
task's background flips, or a graded task's spread; the per-prompt KL spread), else from an assumed
discordance. A policy `gate` would refuse for this suite (a `task_drop` naming a task outside it) is
refused here too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from forgetbench.core.errors import UserInputError
from forgetbench.core.predictors import BY_NAME
from forgetbench.gate.decide import GateInputs, check_policy, load_inputs
from forgetbench.gate.policy import GatePolicy, load_policy
from forgetbench.prior.catalog import suite_sizes
from forgetbench.stats.bootstrap import mean_test
from forgetbench.stats.kl_mean import kl_rule
from forgetbench.stats.paired import BinaryDrop, task_drop
from forgetbench.stats.sizing import AggregateSizing, BinarySizing, GradedSizing, Sizing

DROP = 5.0
"""Points: the drop a rule with a limit of 0 or below is sized to catch (`plan --drop`)."""


@dataclass(frozen=True)
class RulePlan:
    """What one rule can decide at the suite's size."""

    rule: str
    """`task:NAME`, `aggregate`, `kl` or `predictor:NAME`."""
    limit: float
    """The policy's limit (points, or nats per sequence)."""
    size: int | None
    """Items (prompts for `kl`) in the suite; None for `kl` (the run chooses `--n-prompts`)."""
    mde: float | None
    """Smallest value failed with 80% power at this size; None without a spread (KL without a pilot)."""
    needed: int | None
    """Items (prompts) for 80% power: see `needed_for`."""
    spread: str
    """Where the standard error came from."""
    needed_for: str = ""
    """What `needed` decides: "no drop shown within L" (limit L > 0) or "a D-point drop shown beyond L"."""


@dataclass(frozen=True)
class SuitePlan:
    suite: str
    policy: str
    alpha: float
    """The policy's α: the level a rule is shown within its limit at (`needed` for a limit above 0)."""
    fail_alpha: float
    """α / rules (Holm's first step): the level a lone rule fails at (`mde`; `needed` for a limit ≤ 0)."""
    drop: float
    """Points: the drop `needed` is sized on for a limit of 0 or below."""
    discordance: float
    pilot: str | None
    rules: tuple[RulePlan, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def _sized(rule: str, limit: float, sizing: Sizing, size: int, alphas: tuple[float, float], drop: float, spread: str) -> RulePlan:
    """A task or aggregate rule, by exact power (`stats.sizing`); `alphas` (fail, pass), `drop` in points."""
    fail_alpha, pass_alpha = alphas
    mde = sizing.mde(limit / 100, fail_alpha)
    if limit > 0:
        needed, what = sizing.needed(0.0, limit / 100, pass_alpha), f"no drop shown within {limit:g}"
    else:
        needed, what = sizing.needed(drop / 100, limit / 100, fail_alpha), f"a {drop:g}-point drop shown beyond {limit:g}"
    return RulePlan(rule, limit, size, None if mde is None else 100 * mde, needed, spread, what)


def _check_drop(
    drop: float,
    parts: dict[str, tuple[BinarySizing | GradedSizing, str]],
    limits: dict[str, float | None],
    aggregate_limit: float | None,
) -> None:
    """Refuse a `--drop` (points) that a rule sized on it (a limit of 0 or below) has no room for: on each
    0/1 task it is applied to (that task's rule, or every task for the aggregate's), at most
    100 · (1 − background) points, the items that do not flip in the background. Rules with a limit above
    0 do not use it."""
    sized = [t for t, limit in limits.items() if limit is not None and limit <= 0]
    if aggregate_limit is not None and aggregate_limit <= 0:
        sized = list(parts)
    room = {t: 100 - 100 * part.background for t in sized if isinstance(part := parts[t][0], BinarySizing)}
    if not room:
        return
    task = min(room, key=lambda t: room[t])
    if drop > room[task] + 1e-9:
        spread, most = parts[task][1], room[task]
        where = (
            f"{task}'s pilot discordance {1 - most / 100:.3g}"
            if spread.startswith("pilot")
            else spread.replace("assumed", "discordance")
        )
        raise UserInputError(f"--drop must be in (0, {most:g}] points at {where} (got {drop:g})")


def plan_suite(
    suite: str, policy_path: Path, pilot: Path | None = None, discordance: float = 0.15, drop: float = DROP
) -> SuitePlan:
    """Per-rule detectable effects and sizes of `suite` under the policy at `policy_path`."""
    if not 0 < discordance <= 1:
        raise UserInputError(f"--discordance must be in (0, 1] (got {discordance})")
    if not drop > 0:
        raise UserInputError(f"--drop must be above 0 points (got {drop:g})")
    policy = load_policy(policy_path)
    sizes = suite_sizes(suite)
    check_policy(policy, f"suite {suite}", set(sizes), "forward")  # what `gate` would refuse on any run of it
    inputs = load_inputs(pilot, [n for n in policy.predictors if BY_NAME[n].inputs != "weights"]) if pilot is not None else None
    pilot_tasks = (inputs.tasks or {}) if inputs is not None else {}
    limits = {t: policy.task_drop.get(t, policy.max_task_drop) for t in sizes}
    rules = [t for t, m in limits.items() if m is not None]
    per_token = sum(BY_NAME[n].inputs != "weights" for n in policy.predictors)  # weight distances: no sampling error
    count = len(rules) + (policy.max_aggregate_drop is not None) + (policy.max_kl is not None) + per_token
    alpha = policy.fail_alpha(count)
    alphas = (alpha, policy.alpha)
    parts: dict[str, tuple[BinarySizing | GradedSizing, str]] = {}
    for t, n in sizes.items():
        if t in pilot_tasks:  # the pilot's background flips (or graded spread), at the suite's size
            seen = task_drop(*pilot_tasks[t])
            part = BinarySizing(n, seen.background()) if isinstance(seen, BinaryDrop) else GradedSizing(n, seen.spread())
            parts[t] = part, f"pilot ({seen.n})"
        else:
            parts[t] = BinarySizing(n, discordance), f"assumed {discordance:g}"
    _check_drop(drop, parts, limits, policy.max_aggregate_drop)
    out = []
    for t, n in sizes.items():
        if (limit := limits[t]) is not None:
            out.append(_sized(f"task:{t}", float(limit), parts[t][0], n, alphas, drop, parts[t][1]))
    if policy.max_aggregate_drop is not None:
        agg = AggregateSizing(tuple(part for part, _ in parts.values()))
        out.append(_sized("aggregate", policy.max_aggregate_drop, agg, sum(sizes.values()), alphas, drop, "the tasks'"))
    if policy.max_kl is not None:
        if inputs is None or inputs.kl_name is None:
            out.append(
                RulePlan("kl", policy.max_kl, None, None, None, "needs --pilot" if inputs is None else "needs a pilot with KL")
            )
        else:
            # the pilot run's KL rule as `gate` sizes it (stats.kl_mean): its MDE at the pilot's prompts, and
            # the prompts at which a mean equal to the pilot's is decided (never below the pass minimum)
            test = mean_test(inputs.kl_values, inputs.kl_clusters, np.random.default_rng(policy.seed), policy.n_boot)
            kl = kl_rule(test, policy.max_kl, policy.alpha, alpha, policy.seed)
            side = "beyond" if test.estimate > policy.max_kl else "within"
            out.append(RulePlan("kl", policy.max_kl, test.n, None if math.isnan(kl.mde) else kl.mde, kl.needed,
                                f"pilot ({test.n})", f"the pilot's KL ({test.estimate:.3g}) shown {side} {policy.max_kl:g}"))  # fmt: skip
    out += [_predictor_plan(name, policy, inputs, alpha) for name in sorted(policy.predictors, key=list(BY_NAME).index)]
    return SuitePlan(
        suite, str(policy_path), policy.alpha, alpha, drop, discordance, None if pilot is None else str(pilot), tuple(out)
    )


def _predictor_plan(name: str, policy: GatePolicy, inputs: GateInputs | None, alpha: float) -> RulePlan:
    """A `[predictors]` rule: a weight distance is decided by its value (nothing to size); a per-token
    divergence is sized like the KL rule from the pilot's values of it (none without a pilot that has it)."""
    limit, rule = policy.predictors[name], f"predictor:{name}"
    if BY_NAME[name].inputs == "weights":
        return RulePlan(rule, limit, None, None, None, "no sampling error", "decided by its value: pass ≤ limit, else fail")
    sample = inputs.predictors.get(name) if inputs is not None else None
    if sample is None or sample.values is None or sample.clusters is None:
        return RulePlan(rule, limit, None, None, None, "needs --pilot" if inputs is None else f"needs a pilot with {name}")
    test = mean_test(sample.values, sample.clusters, np.random.default_rng(policy.seed), policy.n_boot)
    sized = kl_rule(test, limit, policy.alpha, alpha, policy.seed, name)
    side = "beyond" if test.estimate > limit else "within"
    return RulePlan(rule, limit, test.n, None if math.isnan(sized.mde) else sized.mde, sized.needed, f"pilot ({test.n})",
                    f"the pilot's {name} ({test.estimate:.3g}) shown {side} {limit:g}")  # fmt: skip
