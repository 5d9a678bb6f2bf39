"""How a gate policy behaves at given suite sizes, by simulation: the rate at which it fails when
every task's true drop is known. Used to calibrate the default policy (tests) and to report its
power (benchmarks/gate_calibration.py).

Items are paired 0/1 outcomes. A fraction `discordance` of items flips between base and checkpoint
when nothing is lost (half 1→0, half 0→1); a true drop δ (points) forgets another δ/100 of the items,
so the expected drop is exactly δ.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from forgetbench.gate.decide import GateInputs, decide
from forgetbench.gate.policy import GatePolicy

LITE_SIZES = {  # items per task in the offline-lite suite
    "fb_mmlu_lite": 40,
    "fb_boolq_lite": 40,
    "fb_piqa_lite": 60,
    "fb_openbookqa_lite": 60,
    "fb_commonsenseqa_lite": 60,
    "fb_siqa_lite": 60,
    "fb_logiqa_lite": 20,
    "fb_asdiv_lite": 40,
}


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


def fail_rate(
    policy: GatePolicy, drops: dict[str, float], sizes: dict[str, int], discordance: float, reps: int, seed: int = 0
) -> float:
    """Fraction of `reps` simulated runs whose verdict is FAIL (task and aggregate rules only)."""
    rng = np.random.default_rng(seed)
    failed = 0
    for rep in range(reps):
        tasks = {t: paired_items(n, drops.get(t, 0.0), discordance, rng) for t, n in sizes.items()}
        inputs = GateInputs(Path("simulated"), "base", "ckpt", tasks, "full", "forward", np.zeros(1), np.zeros(1))
        failed += not decide(inputs, replace(policy, seed=seed * 100003 + rep)).passed
    return failed / reps
