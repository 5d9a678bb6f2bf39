"""`forgetbench plan`: what a suite can decide under a policy, from sizes read in tasks/."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from forgetbench.pipeline.plan import plan_suite
from forgetbench.prior.catalog import suite_sizes
from forgetbench.stats.paired import resolution

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.toml"


def test_plan_reads_sizes_from_tasks_and_sizes_each_rule():
    plan = plan_suite("offline-lite", EXAMPLE)
    sizes = suite_sizes("offline-lite")
    tasks = {r.rule.removeprefix("task:"): r for r in plan.rules if r.rule.startswith("task:")}
    assert {t: r.size for t, r in tasks.items()} == sizes
    alpha = 0.05 / len(plan.rules)  # Holm's first step across the 10 rules
    piqa = tasks["fb_piqa_lite"]
    assert piqa.mde == 5.0 + resolution(100 * math.sqrt(0.15 / 60), alpha)
    # 80% power at the limit: the standard error at `needed` items is limit / (z_α + z_0.8)
    assert (
        resolution(100 * math.sqrt(0.15 / piqa.needed), alpha)
        <= 5.0
        < resolution(100 * math.sqrt(0.15 / (piqa.needed - 1)), alpha)
    )
    assert tasks["fb_mmlu_lite"].limit == 3.0 and tasks["fb_mmlu_lite"].needed > piqa.needed
    kl = next(r for r in plan.rules if r.rule == "kl")
    assert kl.mde is None and "pilot" in kl.spread


def test_plan_with_a_pilot_uses_its_spread(score_runs):
    runs = score_runs
    proc = subprocess.run(
        [sys.executable, "-m", "forgetbench", "plan", "--suite", "offline-lite", "--policy", str(EXAMPLE), "--pilot",
         str(runs["damaged"]), "--json"], capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rules = {r["rule"]: r for r in json.loads(proc.stdout)["rules"]}
    assert rules["kl"]["mde"] > 50 and rules["kl"]["size"] > 0 and "pilot" in rules["kl"]["spread"]
    assert "pilot" in rules["task:fb_piqa_lite"]["spread"] and "assumed" in rules["task:fb_boolq_lite"]["spread"]


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--discordance", "0"], "--discordance must be in (0, 1]"),
        (["--suite", "nope"], "unknown suite 'nope'"),
        (["--pilot", "/nonexistent"], "no run folder at /nonexistent"),
    ],
)
def test_bad_plan_input_is_one_line_exit_2(extra, needle):
    proc = subprocess.run([sys.executable, "-m", "forgetbench", "plan", "--policy", str(EXAMPLE), *extra],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
