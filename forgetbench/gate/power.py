"""How a gate policy behaves at given suite sizes, by simulation: the rate at which it fails when
every task's true drop is known. Used to calibrate the default policy (tests) and to report its
power (benchmarks/gate_calibration.py).

Items are paired 0/1 outcomes. A fraction `discordance` of items flips between base and checkpoint
when nothing is lost (half 1→0, half 0→1); a true drop δ (points) forgets another δ/100 of the items,
so the expected drop is exactly δ. This is the data model under which `stats.sizing` states minimum
detectable effects and items needed, so simulating it through `decide` checks their 80% power.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from forgetbench.gate.decide import GateInputs, decide
from forgetbench.gate.policy import GatePolicy
from forgetbench.stats.paired import BinaryDrop


def paired_items(n: int, drop: float, discordance: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One task's (base, ckpt) 0/1 outcomes with true drop `drop` points."""
    lost, won = discordance / 2 + drop / 100, discordance / 2
    if drop < 0 or lost + won > 1:
        raise ValueError(f"cannot simulate a drop of {drop} points with discordance {discordance}")
    u = rng.random(n)
    change = np.where(u < lost, 1, np.where(u < lost + won, -1, 0))  # +1: 1→0, −1: 0→1
    same = (rng.random(n) < 0.5).astype(float)
    base = np.where(change == 1, 1.0, np.where(change == -1, 0.0, same))
    return base, base - change


def simulated_inputs(drops: dict[str, float], sizes: dict[str, int], discordance: float, rng: np.random.Generator,
                     kl: np.ndarray | None = None) -> GateInputs:  # fmt: skip
    """A simulated run: every task of `sizes` with its true drop (0 unless in `drops`); per-prompt KL values."""
    tasks = {t: paired_items(n, drops.get(t, 0.0), discordance, rng) for t, n in sizes.items()}
    values = np.zeros(1) if kl is None else np.asarray(kl, dtype=np.float64)
    return GateInputs(Path("simulated"), "base", "ckpt", tasks or None, "full", "forward", values, np.arange(len(values)))


def outcome_rates(policy: GatePolicy, runs: Iterable[GateInputs]) -> dict[str, float]:
    """Share of runs whose gate status is `pass`, `fail`, `inconclusive`, and whose exit code fails (`exit_fail`)."""
    counts = {"pass": 0, "fail": 0, "inconclusive": 0, "exit_fail": 0}
    total = 0
    for rep, inputs in enumerate(runs):
        v = decide(inputs, replace(policy, seed=rep), sizing=False)  # the outcome only: no MDE / prompts-needed simulations
        counts[v.status] += 1
        counts["exit_fail"] += not v.passed
        total += 1
    return {k: c / total for k, c in counts.items()}


def fail_rate(
    policy: GatePolicy, drops: dict[str, float], sizes: dict[str, int], discordance: float, reps: int, seed: int = 0
) -> float:
    """Fraction of `reps` simulated runs whose exit code is FAIL (task and aggregate rules only)."""
    rng = np.random.default_rng(seed)
    runs = (simulated_inputs(drops, sizes, discordance, rng) for _ in range(reps))
    return outcome_rates(policy, runs)["exit_fail"]


def exact_coverage(n: int, lost: float, won: float, level: float = 0.95) -> float:
    """Exact coverage of a 0/1 task's interval (`stats.paired.BinaryDrop`) at `n` items whose true shares
    lost and won are `lost` and `won`: its hit summed over every (lost, won) count of the trinomial."""

    def logp(k: int, p: float) -> float:
        return 0.0 if k == 0 else (k * math.log(p) if p > 0 else -math.inf)

    total = 0.0
    for b in range(n + 1):
        for c in range(n + 1 - b):
            lp = (math.lgamma(n + 1) - math.lgamma(b + 1) - math.lgamma(c + 1) - math.lgamma(n - b - c + 1)
                  + logp(b, lost) + logp(c, won) + logp(n - b - c, 1 - lost - won))  # fmt: skip
            if lp > -40:  # outcomes rarer than e⁻⁴⁰ cannot move the sum
                low, high = BinaryDrop(b, c, n).interval(level)
                total += math.exp(lp) * (low - 1e-12 <= lost - won <= high + 1e-12)
    return total
