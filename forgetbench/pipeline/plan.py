"""`forgetbench plan`: what a suite and a policy can decide, before anything runs.

Per rule, at the suite's sizes (read from `tasks/`): the minimum detectable value (the smallest drop, or
KL, the rule fails with 80% power at α, after Holm's first step α / rules) and the items (prompts) at
which a checkpoint with no drop is shown within the limit — and one at twice the limit shown beyond it —
with 80% power. The spread comes from a pilot run folder when given (each task's discordance, the
per-prompt KL spread), else from an assumed discordance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from forgetbench.core.errors import UserInputError
from forgetbench.gate.decide import load_inputs
from forgetbench.gate.policy import load_policy
from forgetbench.prior.catalog import suite_sizes
from forgetbench.stats.bootstrap import cluster_means
from forgetbench.stats.paired import resolution, size_needed, task_drop


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
    """Items (prompts) for 80% power at the limit (no drop shown within it, 2× the limit shown beyond)."""
    spread: str
    """Where the standard error came from."""


@dataclass(frozen=True)
class SuitePlan:
    suite: str
    policy: str
    alpha: float
    discordance: float
    pilot: str | None
    rules: tuple[RulePlan, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def _rule(rule: str, limit: float, size: int | None, se: float | None, alpha: float, spread: str) -> RulePlan:
    if se is None or size is None:
        return RulePlan(rule, limit, size, None, None, spread)
    return RulePlan(rule, limit, size, limit + resolution(se, alpha), size_needed(size, se, limit, alpha), spread)


def plan_suite(suite: str, policy_path: Path, pilot: Path | None = None, discordance: float = 0.15) -> SuitePlan:
    """Per-rule detectable effects and sizes of `suite` under the policy at `policy_path`."""
    if not 0 < discordance <= 1:
        raise UserInputError(f"--discordance must be in (0, 1] (got {discordance})")
    policy = load_policy(policy_path)
    sizes = suite_sizes(suite)
    inputs = load_inputs(pilot) if pilot is not None else None
    pilot_tasks = (inputs.tasks or {}) if inputs is not None else {}
    limits = {t: policy.task_drop.get(t, policy.max_task_drop) for t in sizes}
    rules = [t for t, m in limits.items() if m is not None]
    count = len(rules) + (policy.max_aggregate_drop is not None) + (policy.max_kl is not None)
    alpha = policy.fail_alpha(count)
    out, variances = [], []
    for t, n in sizes.items():
        if t in pilot_tasks:  # the pilot's discordance (adjusted, so a task with no flip still has one), at the suite's size
            drop = task_drop(*pilot_tasks[t])
            se = drop.se() * math.sqrt(drop.n / n)
            spread = f"pilot ({drop.n})"
        else:
            se, spread = math.sqrt(discordance / n), f"assumed {discordance:g}"
        variances.append(se**2)
        if (limit := limits[t]) is not None:
            out.append(_rule(f"task:{t}", float(limit), n, 100 * se, alpha, spread))
    if policy.max_aggregate_drop is not None:
        se = 100 * math.sqrt(sum(variances)) / len(variances)
        out.append(_rule("aggregate", policy.max_aggregate_drop, sum(sizes.values()), se, alpha, "the tasks'"))
    if policy.max_kl is not None:
        if inputs is None or inputs.kl_name is None:
            out.append(
                _rule("kl", policy.max_kl, None, None, alpha, "needs --pilot" if inputs is None else "needs a pilot with KL")
            )
        else:
            per = cluster_means(inputs.kl_values, inputs.kl_clusters)
            se = float(np.std(per, ddof=1)) / math.sqrt(len(per))
            out.append(_rule("kl", policy.max_kl, len(per), se, alpha, f"pilot ({len(per)})"))
    return SuitePlan(suite, str(policy_path), policy.alpha, discordance, None if pilot is None else str(pilot), tuple(out))
