"""The gate's error rates at the offline-lite suite's sizes (read from tasks/), by simulation.

Three-valued rules bound both errors at α: with no drop, the gate FAILS (a rule shown beyond its
limit) at most α of the time, Holm across the fail tests; under `on_inconclusive = "fail"` (strict), a
checkpoint whose drop sits exactly at the limit PASSES at most α of the time — including one task with
every flip a loss, where a percentile bootstrap passed 36.5% of runs at 20 items. Tolerance: the
Monte Carlo error of these run counts (2 standard errors)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from forgetbench.gate.policy import GatePolicy, load_policy
from forgetbench.gate.power import outcome_rates, simulated_inputs
from forgetbench.prior.catalog import suite_sizes

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.toml"
ALPHA = 0.05


def slack(runs: int) -> float:
    return 2 * math.sqrt(ALPHA * (1 - ALPHA) / runs)


@pytest.fixture(scope="module")
def lite() -> dict[str, int]:
    return suite_sizes("offline-lite")


def test_the_example_policy_never_fails_noise(lite):
    policy = replace(load_policy(EXAMPLE), max_kl=None)
    rng = np.random.default_rng(0)
    rates = outcome_rates(policy, (simulated_inputs({}, lite, 0.15, rng) for _ in range(400)))
    assert rates["exit_fail"] <= ALPHA and rates["fail"] <= ALPHA


@pytest.mark.parametrize("n", [20, 40, 60])
def test_strict_never_passes_one_task_at_its_limit_with_every_flip_a_loss(n):
    policy = GatePolicy(max_task_drop=5.0, on_inconclusive="fail")
    rng = np.random.default_rng(n)
    rates = outcome_rates(policy, (simulated_inputs({"t": 5.0}, {"t": n}, 0.0, rng) for _ in range(1000)))
    assert rates["pass"] <= ALPHA + slack(1000)


def test_strict_never_passes_a_suite_at_its_limits(lite):
    policy = GatePolicy(max_task_drop=10.0, max_aggregate_drop=10.0, on_inconclusive="fail")
    rng = np.random.default_rng(3)
    rates = outcome_rates(policy, (simulated_inputs(dict.fromkeys(lite, 10.0), lite, 0.15, rng) for _ in range(300)))
    assert rates["pass"] <= ALPHA + slack(300)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5])
def test_strict_kl_rule_never_passes_at_its_limit_under_skew(sigma):
    """32 prompts with lognormal per-prompt KL whose mean is exactly the limit."""
    limit = 50.0
    policy = GatePolicy(max_kl=limit, on_inconclusive="fail", n_boot=1000)
    rng = np.random.default_rng(int(10 * sigma))
    mu = math.log(limit) - sigma**2 / 2
    runs = (simulated_inputs({}, {}, 0.0, rng, kl=rng.lognormal(mu, sigma, 32)) for _ in range(400))
    assert outcome_rates(policy, runs)["pass"] <= ALPHA + slack(400)


def test_a_drop_shown_beyond_the_limit_fails_and_more_often_than_noise(lite):
    policy = replace(load_policy(EXAMPLE), max_kl=None)
    rng = np.random.default_rng(5)
    noise = outcome_rates(policy, (simulated_inputs({}, lite, 0.15, rng) for _ in range(200)))
    broken = outcome_rates(policy, (simulated_inputs({"fb_piqa_lite": 40.0}, lite, 0.15, rng) for _ in range(200)))
    assert broken["fail"] > 0.5 > noise["fail"]
