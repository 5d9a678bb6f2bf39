"""The gate's error rates by simulation at the lite suite's sizes (8 tasks, 20–60 items each), for
the default policy settings (α 0.05, Holm across tasks) with a 5-point task limit.

Each mode controls one error at α: `significant-drop` wrongly FAILS a checkpoint whose true drops are
all at or below the limit at most α of the time; `non-inferiority` wrongly PASSES one whose true drops
sit at the limit at most α of the time. Monte-Carlo slack: 3 standard errors of a rate of α over REPS.
The power figures (benchmarks/gate_calibration.py) are in the README.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from forgetbench.gate.policy import GatePolicy
from forgetbench.gate.power import LITE_SIZES, fail_rate, paired_items

REPS = 300
SLACK = 3 * math.sqrt(0.05 * 0.95 / REPS)
DISCORDANCE = 0.15  # share of items that flip when nothing is lost (the demo's fine-tune: 7–12%)
LIMIT = 5.0


def test_simulated_items_have_the_requested_drop():
    rng = np.random.default_rng(0)
    b, c = paired_items(200_000, 10.0, DISCORDANCE, rng)
    assert 100 * (b.mean() - c.mean()) == pytest.approx(10.0, abs=0.3)
    assert np.mean(b != c) == pytest.approx(DISCORDANCE + 0.10, abs=0.01)


def test_significant_drop_wrongly_fails_at_most_alpha_with_no_drop():
    policy = GatePolicy(max_task_drop=LIMIT, mode="significant-drop", n_boot=1000)
    assert fail_rate(policy, {}, LITE_SIZES, DISCORDANCE, REPS) <= policy.alpha


def test_significant_drop_family_error_at_the_limit_is_at_most_alpha():
    """The least favourable null: every task's true drop exactly at the limit."""
    policy = GatePolicy(max_task_drop=LIMIT, mode="significant-drop", n_boot=1000)
    drops = {t: LIMIT for t in LITE_SIZES}
    assert fail_rate(policy, drops, LITE_SIZES, DISCORDANCE, REPS, seed=1) <= policy.alpha + SLACK


def test_non_inferiority_wrongly_passes_at_most_alpha_at_the_limit():
    policy = GatePolicy(max_task_drop=LIMIT, n_boot=1000)
    assert policy.mode == "non-inferiority" and policy.correction == "holm"
    drops = {t: LIMIT for t in LITE_SIZES}
    assert 1 - fail_rate(policy, drops, LITE_SIZES, DISCORDANCE, REPS, seed=2) <= policy.alpha + SLACK


def test_a_drop_of_twice_the_limit_is_caught_more_often_than_no_drop():
    policy = GatePolicy(max_task_drop=LIMIT, mode="significant-drop", n_boot=1000)
    drops = {t: 2 * LIMIT for t in LITE_SIZES}
    assert fail_rate(policy, drops, LITE_SIZES, DISCORDANCE, 100, seed=3) > fail_rate(
        policy, {}, LITE_SIZES, DISCORDANCE, 100, seed=3
    )
