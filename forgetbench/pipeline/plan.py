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
from forgetbench.gate.decide import check_policy, load_inputs
from forgetbench.gate.policy import load_policy
from forgetbench.prior.catalog import suite_sizes
from forgetbench.stats.bootstrap import mean_test
from forgetbench.stats.kl_mean import kl_rule
from forgetbench.stats.paired import BinaryDrop, resolution, size_needed, task_drop
from forgetbench.stats.sizing import AggregateSizing, BinarySizing, GradedSizing, Sizing

DROP = 5.0
"""Points: the drop a rule with a limit of 0 or below is sized to catch (`plan --drop`)."""


@dataclass(frozen=True)
class RulePlan:
    """What one rule can decide at the suite's size."""

    rule: str
    """`task:NAME`, `aggregate` or `kl`."""
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


def _rule(rule: str, limit: float, size: int | None, se: float | None, alpha: float, spread: str) -> RulePlan:
    if se is None or size is None:
        return RulePlan(rule, limit, size, None, None, spread)
    return RulePlan(rule, limit, size, limit + resolution(se, alpha), size_needed(size, se, limit, alpha), spread)


def _sized(rule: str, limit: float, sizing: Sizing, size: int, alphas: tuple[float, float], drop: float, spread: str) -> RulePlan:
    """A task or aggregate rule, by exact power (`stats.sizing`); `alphas` (fail, pass), `drop` in points."""
    fail_alpha, pass_alpha = alphas
    mde = sizing.mde(limit / 100, fail_alpha)
    if limit > 0:
        needed, what = sizing.needed(0.0, limit / 100, pass_alpha), f"no drop shown within {limit:g}"
    else:
        needed, what = sizing.needed(drop / 100, limit / 100, fail_alpha), f"a {drop:g}-point drop shown beyond {limit:g}"
    return RulePlan(rule, limit, size, None if mde is None else 100 * mde, needed, spread, what)


def plan_suite(
    suite: str, policy_path: Path, pilot: Path | None = None, discordance: float = 0.15, drop: float = DROP
) -> SuitePlan:
    """Per-rule detectable effects and sizes of `suite` under the policy at `policy_path`."""
    if not 0 < discordance <= 1:
        raise UserInputError(f"--discordance must be in (0, 1] (got {discordance})")
    if not 0 < drop <= 100 - 100 * discordance:
        raise UserInputError(
            f"--drop must be in (0, {100 - 100 * discordance:g}] points at discordance {discordance:g} (got {drop})"
        )
    policy = load_policy(policy_path)
    sizes = suite_sizes(suite)
    unknown = sorted(set(policy.task_drop) - set(sizes))
    if unknown:  # `gate` refuses it on any run of this suite (check_policy)
        raise UserInputError(f"policy task_drop names task(s) not in suite {suite}: {', '.join(unknown)}")
    check_policy(policy, f"suite {suite}", set(sizes), "forward")
    inputs = load_inputs(pilot) if pilot is not None else None
    pilot_tasks = (inputs.tasks or {}) if inputs is not None else {}
    limits = {t: policy.task_drop.get(t, policy.max_task_drop) for t in sizes}
    rules = [t for t, m in limits.items() if m is not None]
    count = len(rules) + (policy.max_aggregate_drop is not None) + (policy.max_kl is not None)
    alpha = policy.fail_alpha(count)
    alphas = (alpha, policy.alpha)
    out, parts = [], []
    for t, n in sizes.items():
        part: BinarySizing | GradedSizing
        if t in pilot_tasks:  # the pilot's background flips (or graded spread), at the suite's size
            seen = task_drop(*pilot_tasks[t])
            part = BinarySizing(n, seen.background()) if isinstance(seen, BinaryDrop) else GradedSizing(n, seen.spread())
            spread = f"pilot ({seen.n})"
        else:
            part, spread = BinarySizing(n, discordance), f"assumed {discordance:g}"
        parts.append(part)
        if (limit := limits[t]) is not None:
            out.append(_sized(f"task:{t}", float(limit), part, n, alphas, drop, spread))
    if policy.max_aggregate_drop is not None:
        agg = AggregateSizing(tuple(parts))
        out.append(_sized("aggregate", policy.max_aggregate_drop, agg, sum(sizes.values()), alphas, drop, "the tasks'"))
    if policy.max_kl is not None:
        if inputs is None or inputs.kl_name is None:
            out.append(
                _rule("kl", policy.max_kl, None, None, alpha, "needs --pilot" if inputs is None else "needs a pilot with KL")
            )
        else:
            # the pilot run's KL rule as `gate` sizes it (stats.kl_mean): its MDE at the pilot's prompts, and
            # the prompts at which a mean equal to the pilot's is decided (never below the pass minimum)
            test = mean_test(inputs.kl_values, inputs.kl_clusters, np.random.default_rng(policy.seed), policy.n_boot)
            kl = kl_rule(test, policy.max_kl, policy.alpha, alpha, policy.seed)
            side = "beyond" if test.estimate > policy.max_kl else "within"
            out.append(RulePlan("kl", policy.max_kl, test.n, None if math.isnan(kl.mde) else kl.mde, kl.needed,
                                f"pilot ({test.n})", f"the pilot's KL ({test.estimate:.3g}) shown {side} {policy.max_kl:g}"))  # fmt: skip
    return SuitePlan(
        suite, str(policy_path), policy.alpha, alpha, drop, discordance, None if pilot is None else str(pilot), tuple(out)
    )
