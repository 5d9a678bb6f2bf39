"""Coverage of every interval the reports print, in the regimes users hit (README "Coverage").

The per-task interval's coverage is computed exactly (`gate.power.exact_coverage`: every (lost, won)
outcome of the trinomial, weighted by its probability); the aggregate's and the KL's by simulation (tolerance: the nominal 95% less 2 points, the
Monte Carlo error at these run counts being about 1 point)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forgetbench.gate.power import exact_coverage, paired_items
from forgetbench.stats.bootstrap import mean_test
from forgetbench.stats.paired import forgetting

LITE = (40, 40, 60, 60, 60, 60, 20)  # the 7 tasks of offline-lite-no-asdiv (tests/gate/test_power.py reads them from tasks/)


@pytest.mark.parametrize("n", [20, 40, 60])
@pytest.mark.parametrize("lost,won", [(0.05, 0.0), (0.10, 0.05)])
def test_task_interval_covers_exactly(n, lost, won):
    assert exact_coverage(n, lost, won) >= 0.945


@pytest.mark.parametrize("lost,won", [(0.05, 0.0), (0.10, 0.05)])
def test_forgetting_interval_covers_over_seven_lite_tasks(lost, won):
    rng, runs, hits = np.random.default_rng(7), 1000, 0
    for _ in range(runs):
        pairs = []
        for n in LITE:
            pairs.append(paired_items(n, 100 * (lost - won), 2 * won, rng))
        low, high = forgetting(pairs).interval(0.95)
        hits += low <= lost - won <= high
    assert hits / runs >= 0.93


@pytest.mark.parametrize(
    "zeros,sigma,n", [(0.0, 0.5, 32), (0.0, 1.0, 32), (0.0, 1.5, 32), (0.2, 1.5, 16), (0.2, 1.5, 64), (0.5, 1.0, 64)]
)
def test_kl_interval_covers_skewed_per_prompt_kl_with_exact_zeros(zeros, sigma, n):
    """Lognormal per-prompt KL, a share of it exactly 0 (before, one zero switched the lognormal part off:
    88.0 / 91.3% at 16 / 64 prompts with 20% zeros and σ 1.5)."""
    rng, runs, hits = np.random.default_rng(11), 400, 0
    truth = (1 - zeros) * math.exp(sigma**2 / 2)
    for _ in range(runs):
        x = np.where(rng.random(n) < zeros, 0.0, rng.lognormal(0.0, sigma, n))
        low, high = mean_test(x, np.arange(n), rng, n_boot=1000).interval(0.95)
        hits += low <= truth <= high
    assert hits / runs >= 0.93


def test_an_exact_zero_keeps_the_lognormal_part_and_two_prompts_bound_nothing():
    rng = np.random.default_rng(0)
    x = np.append(rng.lognormal(0, 1, 31), 0.0)
    assert mean_test(x, np.arange(32), rng).hurdle
    low, high = mean_test(np.array([0.2, 0.9]), np.arange(2), rng).interval(0.9)  # before: [0.55, 0.55]
    assert math.isnan(low) and math.isnan(high)


def test_simulated_items_have_the_requested_drop():
    rng = np.random.default_rng(0)
    b, c = paired_items(200_000, 5.0, 0.15, rng)
    assert 100 * (b.mean() - c.mean()) == pytest.approx(5.0, abs=0.3)
