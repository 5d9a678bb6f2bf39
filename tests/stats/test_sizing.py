"""Minimum detectable effects and items needed (`stats.sizing`) against independent computations: the
graded power against statsmodels' t-test power, the 0/1 exact power against a simulation of the test
itself, and the MDE/needed against the definition (80% power there, less just below)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from statsmodels.stats.power import TTestPower

from forgetbench.gate.power import paired_items
from forgetbench.stats.paired import task_drop
from forgetbench.stats.sizing import POWER, BinarySizing, GradedSizing, binary_power, sizing_of


@pytest.mark.parametrize("n", [5, 20, 60])
def test_graded_power_is_statsmodels_t_test_power(n):
    sizing = GradedSizing(n, 0.3)
    effect = (0.12 - 0.05) / 0.3
    assert sizing.power(0.12, 0.05, 0.05, "beyond") == pytest.approx(
        TTestPower().power(effect_size=effect, nobs=n, alpha=0.05, alternative="larger"), abs=1e-6
    )
    assert sizing.power(-0.02, 0.05, 0.05, "within") == pytest.approx(
        TTestPower().power(effect_size=-effect, nobs=n, alpha=0.05, alternative="smaller"), abs=1e-6
    )


@pytest.mark.parametrize("side,drop", [("beyond", 0.2), ("within", -0.05)])
def test_binary_exact_power_matches_a_simulation_of_the_test(side, drop):
    rng, runs, n, d = np.random.default_rng(4), 3000, 40, 0.1
    hits = 0
    for _ in range(runs):
        b, c = paired_items(n, 0.0, d, rng) if drop < 0 else paired_items(n, 100 * drop, d, rng)
        if drop < 0:  # a gain: the data model's won share grows instead (flip the roles of base and ckpt)
            c, b = paired_items(n, -100 * drop, d, rng)
        stat = task_drop(b, c)
        hits += (stat.p_beyond(0.05) if side == "beyond" else stat.p_within(0.05)) <= 0.05
    exact = binary_power(n, d, drop, 0.05, 0.05, side)
    assert abs(hits / runs - exact) <= 2 * math.sqrt(exact * (1 - exact) / runs) + 1e-3


@pytest.mark.parametrize("n,d", [(20, 0.02), (60, 0.1), (200, 0.3)])
def test_mde_and_items_needed_have_80_percent_power(n, d):
    sizing = BinarySizing(n, d)
    mde = sizing.mde(0.05, 0.005)
    assert mde is not None and sizing.power(mde, 0.05, 0.005, "beyond") == pytest.approx(POWER, abs=1e-3)
    needed = sizing.needed(0.0, 0.05, 0.05)
    # the fewest items to within 1% (the answer is "about N items")
    assert sizing.power(0.0, 0.05, 0.05, "within", needed) >= POWER > sizing.power(0.0, 0.05, 0.05, "within", int(0.98 * needed))


def test_the_normal_approximation_takes_over_smoothly_beyond_exact_enumeration():
    from forgetbench.stats.sizing import EXACT_ITEMS

    for drop, side in ((0.03, "beyond"), (0.0, "within")):
        exact = binary_power(EXACT_ITEMS, 0.1, drop, 0.015, 0.05, side)
        assert binary_power(EXACT_ITEMS + 1, 0.1, drop, 0.015, 0.05, side) == pytest.approx(exact, abs=0.01)


def test_a_task_too_small_for_any_drop_has_no_mde():
    assert BinarySizing(3, 0.3).mde(0.05, 0.005) is None


def test_graded_without_spread_or_items_states_what_it_needs():
    assert GradedSizing(2, 0.0).needed(0.0, 0.05, 0.05) == 3 and GradedSizing(2, 0.0).mde(0.05, 0.05) is None
    assert GradedSizing(1, math.nan).undecided.startswith("the paired t test needs at least 3")
    assert GradedSizing(10, 0.0).needed(0.0, 0.05, 0.05) is None and "all equal" in GradedSizing(10, 0.0).undecided


def test_sizing_is_fast_enough_for_gate_and_plan():
    """A large task (14 000 items) and a whole small suite's F, MDE and items needed, each well under a second."""
    start = time.perf_counter()
    big = BinarySizing(14000, 0.1)
    assert big.mde(0.03, 0.005) is not None and big.needed(0.0, 0.01, 0.05) > 2000
    rng = np.random.default_rng(0)
    from forgetbench.stats.paired import forgetting

    agg = sizing_of(forgetting([paired_items(n, 0.0, 0.15, rng) for n in (40, 40, 60, 60, 60, 60, 20, 40)]))
    assert agg.mde(0.02, 0.005) is not None and agg.needed(0.0, 0.02, 0.05) is not None
    assert time.perf_counter() - start < 3.0
