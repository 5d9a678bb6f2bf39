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


@pytest.mark.parametrize("n", [20, 60, 200])
def test_a_task_at_its_stated_mde_fails_80_percent_of_runs(n):
    """The MDE is stated under the data model (background flips d split evenly, a drop δ loses another
    δ); simulated through `decide` at exactly that drop, the gate fails 80% of runs (± MC error)."""
    from forgetbench.gate.power import fail_rate
    from forgetbench.stats.sizing import BinarySizing

    mde = BinarySizing(n, 0.10).mde(0.05, 0.05)
    runs = 600
    rate = fail_rate(GatePolicy(max_task_drop=5.0), {"t": 100 * mde}, {"t": n}, 0.10, runs, seed=n)
    assert abs(rate - 0.8) <= 0.03 + 2 * math.sqrt(0.16 / runs)


def test_the_aggregate_at_its_stated_mde_fails_80_percent_of_runs(lite):
    from forgetbench.gate.power import fail_rate
    from forgetbench.stats.sizing import AggregateSizing, BinarySizing

    mde = AggregateSizing(tuple(BinarySizing(n, 0.10) for n in lite.values())).mde(0.02, 0.05)
    runs = 300
    rate = fail_rate(GatePolicy(max_aggregate_drop=2.0), dict.fromkeys(lite, 100 * mde), lite, 0.10, runs, seed=1)
    assert abs(rate - 0.8) <= 0.03 + 2 * math.sqrt(0.16 / runs)


@pytest.mark.parametrize("n", [20, 40, 60, 100, 200])
@pytest.mark.parametrize("d", [0.0, 0.02, 0.05, 0.15])
def test_a_task_exactly_at_its_limit_fails_at_most_alpha_exactly(n, d):
    """Every outcome enumerated: with the true drop at the limit (5 points) the continuity-corrected test
    fails ≤ α (uncorrected Tango: 8.8% at 60 items, d 0.02) and passes ≤ α."""
    from forgetbench.stats.sizing import binary_power

    assert binary_power(n, d, 0.05, 0.05, ALPHA, "beyond") <= ALPHA
    assert binary_power(n, d, 0.05, 0.05, ALPHA, "within") <= ALPHA


def test_the_worst_limit_cell_through_the_gate():
    """60 items, 2% background flips, true drop at the limit: the gate fails ≤ α + MC error."""
    from forgetbench.gate.power import fail_rate

    rate = fail_rate(GatePolicy(max_task_drop=5.0), {"t": 5.0}, {"t": 60}, 0.02, 1500, seed=8)
    assert rate <= ALPHA + slack(1500)


def test_identical_graded_differences_never_pass():
    """Two (or thirty) identical graded differences: inconclusive, never a pass at p = 0; fewer than three
    items say how many would do."""
    from forgetbench.gate.decide import GateInputs, decide

    for n, needed in ((1, 3), (2, 3), (30, None)):
        base, ckpt = np.full(n, 0.8), np.full(n, 0.7)
        inputs = GateInputs(Path("graded"), "base", "ckpt", {"t": (base, ckpt)}, None, None, np.zeros(0), np.zeros(0, dtype=int))
        rule = decide(inputs, GatePolicy(max_task_drop=50.0)).rules[0]
        assert rule.status == "inconclusive" and rule.p_within == 1.0 and rule.n_needed == needed, rule
        assert ("at least 3" in rule.reason) if n < 3 else ("all equal" in rule.reason)


def test_outcome_simulations_skip_only_the_sizing():
    """`outcome_rates` decides without the MDE / prompts-needed simulations (`decide(..., sizing=False)`): every
    rule's status and p-values are those of the full decision, across passes, fails and undecided runs."""
    from forgetbench.gate.decide import decide

    rng = np.random.default_rng(3)
    policy = GatePolicy(max_kl=1.0, on_inconclusive="fail", n_boot=500)
    statuses = set()
    for n, scale in [(8, 1.0), (40, 0.5), (256, 0.3), (128, 0.9), (128, 1.1), (256, 2.0), (130, 1.0)]:
        inputs = simulated_inputs({}, {}, 0.0, rng, kl=rng.lognormal(-0.5, 1.0, n) * scale)
        full, quick = decide(inputs, policy), decide(inputs, policy, sizing=False)
        for a, b in zip(full.rules, quick.rules, strict=True):
            assert (a.status, a.p_within, a.p_beyond, a.estimate) == (b.status, b.p_within, b.p_beyond, b.estimate)
            statuses.add(a.status)
        assert full.status == quick.status
    assert statuses == {"pass", "fail", "inconclusive"}
