"""Paired statistics against textbook values and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import norm, ttest_rel

from forgetbench.stats.paired import (
    BinaryDrop,
    GradedDrop,
    chance_adjusted,
    flips,
    forgetting,
    mcnemar_exact,
    task_drop,
)


def test_mcnemar_exact_textbook_case():
    """Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91, airway hyper-responsiveness
    example: discordant pairs 1 and 7, exact conditional McNemar P = 0.070 (= 2·9/256)."""
    assert mcnemar_exact(1, 7) == pytest.approx(0.0703, abs=5e-5)
    assert mcnemar_exact(7, 1) == mcnemar_exact(1, 7)


def test_mcnemar_edge_cases():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)


def _score_z_by_optimisation(b: int, c: int, n: int, d: float) -> float:
    """Tango's statistic with the restricted MLE found numerically, not by the closed form."""

    def nll(q: float) -> float:
        p10, p01 = q + d, q
        rest = 1 - p10 - p01
        return -(b * math.log(max(p10, 1e-300)) + c * math.log(max(p01, 1e-300)) + (n - b - c) * math.log(max(rest, 1e-300)))

    lo, hi = max(0.0, -d) + 1e-12, (1 - d) / 2 - 1e-12
    q = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}).x
    return (b - c - n * d) / math.sqrt(n * (2 * q + d * (1 - d)))


@pytest.mark.parametrize("b,c,n,d", [(3, 0, 20, 0.05), (6, 2, 60, 0.1), (1, 7, 40, -0.05), (0, 0, 30, 0.1), (10, 10, 50, 0.0)])
def test_tango_restricted_mle_matches_numerical_optimisation(b, c, n, d):
    assert BinaryDrop(b, c, n).z(d) == pytest.approx(_score_z_by_optimisation(b, c, n, d), abs=1e-4)


def test_tango_interval_inverts_its_test_and_holds_the_estimate():
    drop = BinaryDrop(6, 0, 60)
    low, high = drop.interval(0.95)
    assert low < drop.estimate < high
    # the continuity-corrected one-sided statistics: half an item toward each null
    assert drop.z_beyond(low) == pytest.approx(norm.ppf(0.975), abs=1e-6)
    assert drop.z_within(high) == pytest.approx(-norm.ppf(0.975), abs=1e-6)
    # one-sided tests agree with the 90% interval: shown within m exactly when m is above its upper end
    low90, high90 = drop.interval(0.90)
    assert drop.p_within(high90 + 1e-6) < 0.05 < drop.p_within(high90 - 1e-6)
    assert drop.p_beyond(low90 - 1e-6) < 0.05 < drop.p_beyond(low90 + 1e-6)


def test_zero_flips_is_not_zero_width():
    """The percentile bootstrap of a task with no flip is [0, 0]; the score interval is not."""
    low, high = BinaryDrop(0, 0, 20).interval(0.95)
    assert low < -0.1 and high > 0.1
    assert BinaryDrop(0, 0, 20).p_within(0.05) > 0.05  # 0 flips in 20 items cannot show a drop < 5 points


def test_graded_metric_uses_the_paired_t_test():
    rng = np.random.default_rng(0)
    base, ckpt = rng.random(30), rng.random(30)
    drop = task_drop(base, ckpt)
    assert isinstance(drop, GradedDrop)
    assert drop.p_zero() == pytest.approx(ttest_rel(base, ckpt).pvalue)
    assert drop.p_beyond(0.0) == pytest.approx(ttest_rel(base, ckpt, alternative="greater").pvalue)
    assert drop.p_within(0.1) == pytest.approx(ttest_rel(base - 0.1, ckpt, alternative="less").pvalue)


def test_flips_and_identity():
    b = np.array([1, 1, 0, 0, 1.0])
    c = np.array([0, 1, 1, 0, 1.0])
    f = flips(b, c)
    assert (f.forgotten, f.gained) == (1, 1)
    assert flips(b, np.array([0.5, 1, 0, 0, 1])) is None
    assert task_drop(b, c) == BinaryDrop(1, 1, 5)


def _restricted_variance(b: int, c: int, n: int, d: float) -> float:
    """Var of a 0/1 task's drop under H0: D = d, the restricted MLE found numerically."""
    z = _score_z_by_optimisation(b, c, n, d)
    return ((b - c - n * d) / z / n) ** 2


def test_forgetting_is_a_stratified_score_statistic():
    """F = mean D_t; to test F = m every task's drop moves by m − F, each variance is Tango's restricted one
    there (found here by numerical optimisation), with half an item of each task as continuity correction."""
    tasks = [(6, 1, 40), (3, 2, 60), (9, 0, 20)]
    pairs = [(np.r_[np.ones(b), np.zeros(c), np.ones(n - b - c)], np.r_[np.zeros(b), np.ones(c), np.ones(n - b - c)])
             for b, c, n in tasks]  # fmt: skip
    f = forgetting(pairs)
    drops = [(b - c) / n for b, c, n in tasks]
    assert f.estimate == pytest.approx(np.mean(drops))
    for m in (0.0, 0.05, 0.12):
        moved = [d + m - f.estimate for d in drops]
        variance = sum(_restricted_variance(b, c, n, mv) for (b, c, n), mv in zip(tasks, moved)) / 9
        correction = 0.5 * sum(1 / n for _, _, n in tasks) / 9
        z = (f.estimate - m - correction) / math.sqrt(variance)
        assert f.p_beyond(m) == pytest.approx(norm.sf(z), rel=1e-3)
    low, high = f.interval(0.90)
    assert f.p_beyond(low) == pytest.approx(0.05, abs=1e-6) and f.p_within(high) == pytest.approx(0.05, abs=1e-6)


def test_forgetting_upper_bound_holds_when_every_flip_is_a_loss():
    """Three 20-item tasks each losing 20% of items and gaining none: the Wald interval put its upper end
    below the truth in 9.6% of runs; the score bound at most 5% + Monte Carlo error (2 s.e.)."""
    from forgetbench.gate.power import paired_items

    rng, runs, misses = np.random.default_rng(3), 600, 0
    for _ in range(runs):
        misses += forgetting([paired_items(20, 20.0, 0.0, rng) for _ in range(3)]).interval(0.90)[1] < 0.2 - 1e-12
    assert misses / runs <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs)


@pytest.mark.parametrize("differences", [(0.3,), (0.2, 0.2), (0.1, 0.4), (0.0,) * 10, (-0.25,) * 30])
def test_graded_drop_too_small_or_without_spread_decides_nothing(differences):
    """One or two differences, or all equal (no spread): never p = 0, both p-values 1, no interval."""
    drop = GradedDrop(differences)
    assert not drop.decidable
    assert drop.p_within(0.5) == 1.0 and drop.p_beyond(-0.5) == 1.0 and drop.p_zero() == 1.0
    assert all(math.isnan(x) for x in drop.interval(0.95))


def test_graded_drop_with_three_differences_is_a_t_test():
    drop = GradedDrop((0.1, 0.2, 0.4))
    assert drop.decidable
    assert drop.p_within(0.9) == pytest.approx(ttest_rel([0.1, 0.2, 0.4], [0.9] * 3, alternative="less").pvalue)


@pytest.mark.parametrize("won,n", [(25, 40), (2, 2), (21, 40), (40, 40)])
def test_background_of_a_gain_on_most_items_is_capped_at_every_item(won, n):
    """(2 · won + 1) / (n + 2) passes 1 once more than about half the items are gained: the data model
    then has every item flip (1), never more, which is no share of items."""
    assert BinaryDrop(0, won, n).background() == 1.0


def test_background_below_the_cap_is_the_smoothed_gain_share():
    assert BinaryDrop(3, 10, 40).background() == pytest.approx(21 / 42)
    assert BinaryDrop(5, 0, 20).background() == pytest.approx(1 / 22)


def test_chance_adjusted():
    assert chance_adjusted(0.25, 0.25) == 0.0
    assert chance_adjusted(1.0, 0.25) == 1.0
    assert chance_adjusted(0.625, 0.25) == pytest.approx(0.5)
