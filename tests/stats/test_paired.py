"""Paired statistics against textbook values and by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from forgetbench.stats.paired import chance_adjusted, flips, forgetting_ci, mcnemar_exact, paired_delta_ci


def test_mcnemar_exact_textbook_case():
    """Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91, airway hyper-responsiveness
    example: discordant pairs 1 and 7, exact conditional McNemar P = 0.070 (= 2·9/256)."""
    assert mcnemar_exact(1, 7) == pytest.approx(0.0703, abs=5e-5)
    assert mcnemar_exact(7, 1) == mcnemar_exact(1, 7)


def test_mcnemar_edge_cases():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)


def test_flips_and_identity():
    b = np.array([1, 1, 0, 0, 1.0])
    c = np.array([0, 1, 1, 0, 1.0])
    f = flips(b, c)
    assert (f.forgotten, f.gained) == (1, 1)
    assert flips(b, np.array([0.5, 1, 0, 0, 1])) is None
    ci = paired_delta_ci(b, b, np.random.default_rng(0))
    assert (ci.estimate, ci.low, ci.high) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_coverage_is_close_to_95_percent():
    """Simulated paired 0/1 data with a known true Δ: the 95% CI covers it in ~95% of datasets."""
    rng = np.random.default_rng(1)
    n, sims, hits = 300, 400, 0
    p_base, p_forget, p_gain = 0.6, 0.15, 0.05  # true Δ = −0.6·0.15 + 0.4·0.05 = −0.07
    true_delta = 100 * (-p_base * p_forget + (1 - p_base) * p_gain)
    for _ in range(sims):
        base = (rng.random(n) < p_base).astype(float)
        u = rng.random(n)
        ckpt = np.where(base == 1, (u >= p_forget).astype(float), (u < p_gain).astype(float))
        ci = paired_delta_ci(base, ckpt, rng, n_boot=1000)
        hits += ci.low <= true_delta <= ci.high
    coverage = hits / sims
    assert 0.92 <= coverage <= 0.975, coverage


def test_forgetting_aggregates_tasks_equally():
    rng = np.random.default_rng(0)
    a = (np.ones(100), np.zeros(100))  # 100-point drop
    b = (np.ones(10), np.ones(10))  # no change
    ci = forgetting_ci([a, b], rng)
    assert ci.estimate == pytest.approx(50.0)
    assert ci.low == pytest.approx(50.0) and ci.high == pytest.approx(50.0)  # no item variance here


def test_chance_adjusted():
    assert chance_adjusted(0.25, 0.25) == 0.0
    assert chance_adjusted(1.0, 0.25) == 1.0
    assert chance_adjusted(0.625, 0.25) == pytest.approx(0.5)
