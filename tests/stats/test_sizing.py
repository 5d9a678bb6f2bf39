"""Minimum detectable effects and items needed (`stats.sizing`) against independent computations: the
graded power against statsmodels' t-test power, the 0/1 exact power against a simulation of the test
itself, and the MDE/needed against the definition (80% power there, less just below)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.power import TTestPower

from forgetbench.gate.power import paired_items
from forgetbench.stats.paired import BinaryDrop, forgetting, task_drop
from forgetbench.stats.sizing import POWER, AggregateSizing, BinarySizing, GradedSizing, binary_power, sizing_of


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


@pytest.mark.parametrize("n,won", [(40, 25), (2, 2)])
def test_a_gain_on_more_than_half_the_items_has_no_mde_and_no_crash(n, won):
    """The fitted background is capped at 1 (every item flips): no drop above the margin fits, so no MDE;
    a gain that large does not fit the data model either, so no items needed (None, not an exception)."""
    sizing = sizing_of(BinaryDrop(0, won, n))
    assert sizing.background == 1.0
    assert sizing.mde(0.05, 0.05) is None and sizing.mde(0.05, 0.005) is None
    assert sizing.needed(-won / n, 0.05, 0.05) is None


def test_a_task_mde_is_searched_only_where_the_drop_fits():
    """Background 0.97 leaves 3 points to drop: a 5-point limit has no MDE; a 0-point one has one below 3
    (at 20 000 items; at 400 even a 3-point drop is caught with 15% power: no MDE either)."""
    assert BinarySizing(20000, 0.97).mde(0.05, 0.05) is None and BinarySizing(400, 0.97).mde(0.0, 0.05) is None
    mde = BinarySizing(20000, 0.97).mde(0.0, 0.05)
    assert mde is not None and 0.0 < mde <= 0.03


def test_aggregate_with_a_large_background_beside_a_large_drop_is_not_sized_past_its_items():
    """A 2000-item task gaining 900 items (background ≈ 0.9) beside one losing 1800: F's drop of 22.5
    points does not fit the first task beside its background. Tasks over `ITEM_DRAWS` items go through
    a multinomial that raised on such shares; smaller ones stated MDE = the margin. Now: None."""
    seen = forgetting([_flips(2000, 0, 900), _flips(2000, 1800, 0)])
    sizing = sizing_of(seen)
    assert isinstance(sizing, AggregateSizing)
    assert sizing.mde(0.30, 0.05) is None
    assert sizing.power(0.225, 0.30, 0.05, "within") is None and sizing.needed(0.225, 0.30, 0.05) is None
    small = sizing_of(forgetting([_flips(200, 0, 90), _flips(200, 180, 0)]))
    assert small.mde(0.30, 0.05) is None and small.needed(0.225, 0.30, 0.05) is None
    fits = sizing.power(0.05, 0.30, 0.05, "within")
    assert fits is not None and 0.0 <= fits <= 1.0


def test_aggregate_mde_bracket_stops_at_the_largest_drop_every_task_can_take():
    """One task with half its items flipping in the background caps F's drop at 0.5: the MDE lies below
    and has 80% power (simulated, common random numbers)."""
    sizing = AggregateSizing((BinarySizing(60, 0.5), BinarySizing(60, 0.05), BinarySizing(40, 0.05)))
    mde = sizing.mde(0.02, 0.05)
    assert mde is not None and 0.02 < mde < 0.5
    power = sizing.power(mde, 0.02, 0.05, "beyond")
    assert power is not None and power == pytest.approx(POWER, abs=0.01)
    assert sizing.power(0.55, 0.02, 0.05, "beyond") is None


def _flips(n: int, lost: int, won: int) -> tuple[np.ndarray, np.ndarray]:
    """(base, ckpt) 0/1 scores of `n` items: `lost` 1 → 0, `won` 0 → 1, the rest 0 under both."""
    base, ckpt = np.zeros(n), np.zeros(n)
    base[:lost] = 1.0
    ckpt[lost : lost + won] = 1.0
    return base, ckpt
