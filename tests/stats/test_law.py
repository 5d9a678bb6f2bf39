"""The three laws of forgetting vs KL against reference implementations: isotonic against scikit-learn
(ties pooled, weights), linear / quadratic against numpy.polyfit and statsmodels' WLS, leave-one-out
against a brute-force refit, Spearman against scipy; headline choice and the R² bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import statsmodels.api as sm
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import r2_score

from forgetbench.stats.law import KINDS, Fit, fit, headline, pava, r2_interval, spearman


def _sklearn(x, y, w=None):
    return IsotonicRegression(increasing=True).fit(x, y, sample_weight=w).predict(x)


def _tied(seed: int, n: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random points with many tied KLs (x drawn from 6 values) and random positive weights."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, n).astype(float) * 10
    return x, 0.05 * x + rng.normal(0, 1, n), rng.uniform(0.2, 3, n)


def test_isotonic_pools_tied_kls_like_sklearn():
    x, y = np.array([0.0, 0, 1, 2]), np.array([0.0, 1, 0.2, 3])
    iso = fit(x, y, "isotonic")
    assert iso.knots == (0, 1, 2) and iso.coefficients == pytest.approx((0.4, 0.4, 3))
    assert iso.predict(x) == pytest.approx(_sklearn(x, y))
    assert iso.r2 == pytest.approx(r2_score(y, _sklearn(x, y))) and iso.r2 == pytest.approx(0.9005, abs=5e-5)


@pytest.mark.parametrize("seed", range(6))
def test_isotonic_equals_sklearn_on_random_tied_data(seed):
    x, y, w = _tied(seed)
    assert fit(x, y, "isotonic").predict(x) == pytest.approx(_sklearn(x, y), abs=1e-12)
    weighted = fit(x, y, "isotonic", w)
    assert weighted.predict(x) == pytest.approx(_sklearn(x, y, w), abs=1e-12)
    assert weighted.r2 == pytest.approx(r2_score(y, _sklearn(x, y, w), sample_weight=w), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_isotonic_fit_does_not_depend_on_the_order_of_tied_rows(seed):
    x, y, w = _tied(seed)
    order = np.random.default_rng(100 + seed).permutation(len(x))
    a, b = fit(x, y, "isotonic", w), fit(x[order], y[order], "isotonic", w[order])
    assert a.knots == b.knots and a.coefficients == pytest.approx(b.coefficients, abs=1e-12)
    assert a.r2 == pytest.approx(b.r2, abs=1e-12) and a.loo_r2 == pytest.approx(b.loo_r2, abs=1e-12)
    first, second = np.flatnonzero(x == x[0])[:2]  # swap two rows at one KL: every fitted value the same
    swap = np.arange(len(x))
    swap[[first, second]] = swap[[second, first]]
    assert fit(x[swap], y[swap], "isotonic").predict(x) == pytest.approx(fit(x, y, "isotonic").predict(x), abs=1e-12)


def test_pava_textbook_cases():
    assert pava(np.array([1.0, 3, 2, 4])).tolist() == [1, 2.5, 2.5, 4]
    assert pava(np.array([3.0, 2, 1])).tolist() == [2, 2, 2]
    assert pava(np.array([1.0, 3, 2]), np.array([1.0, 1, 3])).tolist() == [1, 2.25, 2.25]
    iso = fit(np.array([2.0, 0, 1, 3]), np.array([2.0, 1, 3, 4]), "isotonic")  # sorted by x: 1, 3, 2, 4
    assert list(iso.knots) == [0, 1, 2, 3] and list(iso.coefficients) == [1, 2.5, 2.5, 4]


@pytest.mark.parametrize("seed", range(3))
def test_linear_and_quadratic_equal_polyfit_and_statsmodels_wls(seed):
    x, y, w = _tied(seed, 25)
    x = x + np.random.default_rng(seed).uniform(0, 5, len(x))
    for kind, degree in (("linear", 1), ("quadratic", 2)):
        plain, weighted = fit(x, y, kind), fit(x, y, kind, w)
        assert plain.coefficients == pytest.approx(np.polyfit(x, y, degree)[::-1], rel=1e-8, abs=1e-10)
        design = np.vander(x, degree + 1, increasing=True)
        wls = sm.WLS(y, design, weights=w).fit()
        assert weighted.coefficients == pytest.approx(wls.params, rel=1e-8, abs=1e-10)
        assert weighted.r2 == pytest.approx(wls.rsquared, abs=1e-10)  # statsmodels' weighted, centred R²
        assert plain.r2 == pytest.approx(sm.OLS(y, design).fit().rsquared, abs=1e-10)


def test_quadratic_law_recovers_exact_coefficients():
    x = np.array([0.0, 1, 2, 3, 5, 8, 13])
    f = fit(x, 1 + 2 * x + 0.5 * x**2, "quadratic")
    assert f.coefficients == pytest.approx((1, 2, 0.5)) and f.r2 == pytest.approx(1) and f.loo_r2 == pytest.approx(1)


def test_leave_one_out_r2_is_below_in_sample_r2_on_noisy_points():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 10, 12)
    f = fit(x, 0.3 * x**2 + rng.normal(0, 3, 12), "quadratic")
    assert 0 < f.loo_r2 < f.r2 < 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_leave_one_out_r2_equals_a_brute_force_refit(kind, weighted):
    x, y, w = _tied(7, 15)
    w = w if weighted else np.ones_like(x)
    preds = []
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        preds.append(float(fit(x[keep], y[keep], kind, w[keep]).predict(x[i])))
    mean = np.average(y, weights=w)
    expected = 1 - np.sum(w * (y - np.array(preds)) ** 2) / np.sum(w * (y - mean) ** 2)
    assert fit(x, y, kind, w if weighted else None).loo_r2 == pytest.approx(expected, abs=1e-12)


def test_leave_one_out_is_nan_when_a_point_leaves_too_few_distinct_kls():
    assert np.isnan(fit(np.array([0.0, 1, 2]), np.array([0.0, 1, 3]), "quadratic").loo_r2)
    assert np.isnan(fit(np.array([0.0, 0, 1, 2]), np.array([0.0, 1, 2, 3]), "quadratic").loo_r2)  # without 1 or 2: 2 KLs
    assert np.isfinite(fit(np.array([0.0, 1, 2]), np.array([0.0, 1, 3]), "linear").loo_r2)
    with pytest.raises(ValueError, match="3 distinct KL"):
        fit(np.array([0.0, 0, 1, 1]), np.array([0.0, 1, 2, 3]), "quadratic")


def _fit(kind: str, loo: float) -> Fit:
    return Fit(kind, 10, (), (), 0.5, loo)  # type: ignore[arg-type]


def test_headline_is_the_best_leave_one_out_r2_ties_to_the_simpler_nan_loses():
    assert headline([_fit("linear", 0.6), _fit("quadratic", 0.7), _fit("isotonic", 0.65)]).kind == "quadratic"
    assert headline([_fit("isotonic", 0.7), _fit("quadratic", 0.7), _fit("linear", 0.7)]).kind == "linear"
    assert headline([_fit("linear", 0.5), _fit("quadratic", 0.7), _fit("isotonic", 0.7)]).kind == "quadratic"
    assert headline([_fit("linear", float("nan")), _fit("quadratic", -3.0), _fit("isotonic", -2.0)]).kind == "isotonic"
    assert headline([_fit("linear", float("nan")), _fit("quadratic", float("nan")), _fit("isotonic", float("nan"))]).kind == (
        "linear"
    )


def test_spearman_equals_scipy():
    x, y, _ = _tied(3)
    expected = scipy.stats.spearmanr(x, y)
    got = spearman(x, y)
    assert got.rho == pytest.approx(expected.statistic) and got.p_value == pytest.approx(expected.pvalue)
    assert np.isnan(spearman(x, np.ones_like(x)).rho)


def test_r2_interval_brackets_r2_is_seeded_and_skips_degenerate_resamples():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 10, 15)
    y = 1 + 0.5 * x + rng.normal(0, 1, 15)
    a = r2_interval(x, y, "linear", np.random.default_rng(1), draws=500)
    b = r2_interval(x, y, "linear", np.random.default_rng(1), draws=500)
    assert a == b and a.low < a.r2 < a.high <= 1 and a.r2 == pytest.approx(fit(x, y, "linear").r2)
    assert a.used == 500 and a.level == 0.95
    few = r2_interval(np.array([0.0, 1, 2]), np.array([0.0, 1, 3]), "linear", np.random.default_rng(1), draws=200)
    assert 0 < few.used < 200  # a resample of 3 rows often has fewer than 3 distinct KLs
