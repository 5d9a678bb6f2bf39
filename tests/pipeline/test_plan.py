"""`forgetbench plan`: what a suite can decide under a policy, from sizes read in tasks/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from forgetbench.core.errors import UserInputError
from forgetbench.pipeline.plan import plan_suite
from forgetbench.prior.catalog import suite_sizes
from forgetbench.stats.sizing import binary_power

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.toml"


def test_plan_reads_sizes_from_tasks_and_sizes_each_rule_with_gates_alpha_split():
    """MDE at α / rules (Holm's first step: how `gate` fails a lone rule); items needed at α undivided
    (`gate` passes by intersection–union), by the exact power of the test under the data model."""
    plan = plan_suite("offline-lite", EXAMPLE)
    sizes = suite_sizes("offline-lite")
    tasks = {r.rule.removeprefix("task:"): r for r in plan.rules if r.rule.startswith("task:")}
    assert {t: r.size for t, r in tasks.items()} == sizes
    fail_alpha = 0.05 / len(plan.rules)  # 10 rules
    assert plan.fail_alpha == pytest.approx(fail_alpha) and plan.alpha == 0.05
    piqa = tasks["fb_piqa_lite"]
    assert binary_power(60, 0.15, piqa.mde / 100, 0.05, fail_alpha, "beyond") == pytest.approx(0.8, abs=1e-3)
    # 80% power to show no drop within 5 points at α (not α / rules: that would ask for more items)
    assert binary_power(piqa.needed, 0.15, 0.0, 0.05, 0.05, "within") >= 0.8
    assert binary_power(int(0.98 * piqa.needed), 0.15, 0.0, 0.05, 0.05, "within") < 0.8  # the fewest, to 1%
    assert binary_power(piqa.needed, 0.15, 0.0, 0.05, fail_alpha, "within") < 0.8
    assert piqa.needed_for == "no drop shown within 5"
    assert tasks["fb_mmlu_lite"].limit == 3.0 and tasks["fb_mmlu_lite"].needed > piqa.needed
    kl = next(r for r in plan.rules if r.rule == "kl")
    assert kl.mde is None and "pilot" in kl.spread


def test_a_limit_of_zero_is_sized_on_a_drop_to_catch(tmp_path):
    policy = tmp_path / "zero.toml"
    policy.write_text("max_task_drop = 0.0\nmax_aggregate_drop = 0.0\n")
    plan = plan_suite("offline-lite", policy, discordance=0.1, drop=10.0)
    piqa = next(r for r in plan.rules if r.rule == "task:fb_piqa_lite")
    assert piqa.needed is not None and piqa.needed_for == "a 10-point drop shown beyond 0"
    assert binary_power(piqa.needed, 0.1, 0.10, 0.0, plan.fail_alpha, "beyond") >= 0.8
    assert binary_power(int(0.98 * piqa.needed), 0.1, 0.10, 0.0, plan.fail_alpha, "beyond") < 0.8
    aggregate = next(r for r in plan.rules if r.rule == "aggregate")
    assert aggregate.needed is not None and aggregate.mde is not None


def test_plan_with_a_pilot_uses_its_spread(score_runs):
    runs = score_runs
    proc = subprocess.run(
        [sys.executable, "-m", "forgetbench", "plan", "--suite", "offline-lite", "--policy", str(EXAMPLE), "--pilot",
         str(runs["damaged"]), "--json"], capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rules = {r["rule"]: r for r in json.loads(proc.stdout)["rules"]}
    assert rules["kl"]["mde"] > 50 and rules["kl"]["size"] > 0 and "pilot" in rules["kl"]["spread"]
    assert "pilot" in rules["task:fb_piqa_lite"]["spread"] and "assumed" in rules["task:fb_boolq_lite"]["spread"]


def test_drop_is_checked_only_when_a_limit_of_zero_uses_it(tmp_path):
    """`--drop` sizes only rules with a limit ≤ 0: a high discordance plans a policy without one (it
    failed for every policy), and a drop with no room beside the background is refused where it is used."""
    plan = plan_suite("offline-lite", EXAMPLE, discordance=0.96)
    assert {r.rule for r in plan.rules} >= {"aggregate", "task:fb_piqa_lite"}
    assert all(r.mde is None for r in plan.rules if r.rule.startswith("task:"))  # 4 points left to drop, limit 5
    zero = tmp_path / "zero.toml"
    zero.write_text("max_task_drop = 0.0\n")
    with pytest.raises(UserInputError, match=r"^--drop must be in \(0, 85\] points at discordance 0.15 \(got 90\)$"):
        plan_suite("offline-lite", zero, drop=90.0)
    with pytest.raises(UserInputError, match=r"^--drop must be in \(0, 4\] points at discordance 0.96 \(got 5\)$"):
        plan_suite("offline-lite", zero, discordance=0.96)
    piqa = next(r for r in plan_suite("offline-lite", zero, drop=85.0).rules if r.rule == "task:fb_piqa_lite")
    assert piqa.needed is not None and piqa.needed_for == "a 85-point drop shown beyond 0"


def test_drop_is_checked_against_the_pilots_background(score_runs, tmp_path):
    """With a pilot, a task's room for the drop is 100 · (1 − its background flips in the pilot)."""
    from forgetbench.gate.decide import load_inputs
    from forgetbench.stats.paired import task_drop

    pilot = score_runs["damaged"]
    seen = task_drop(*(load_inputs(pilot).tasks or {})["fb_piqa_lite"])
    room = 100 - 100 * seen.background()
    policy = tmp_path / "piqa.toml"
    policy.write_text("[task_drop]\nfb_piqa_lite = 0.0\n")
    with pytest.raises(UserInputError, match=r"^--drop must be in \(0, [0-9.]+\] points at fb_piqa_lite's pilot discordance"):
        plan_suite("offline-lite", policy, pilot=pilot, drop=room + 1.0)
    assert plan_suite("offline-lite", policy, pilot=pilot, drop=room).rules[0].rule == "task:fb_piqa_lite"


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--discordance", "0"], "--discordance must be in (0, 1]"),
        (["--suite", "nope"], "unknown suite 'nope'"),
        (["--pilot", "/nonexistent"], "no run folder at /nonexistent"),
        (["--drop", "0"], "--drop must be above 0 points (got 0)"),
    ],
)
def test_bad_plan_input_is_one_line_exit_2(extra, needle):
    proc = subprocess.run([sys.executable, "-m", "forgetbench", "plan", "--policy", str(EXAMPLE), *extra],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_plan_refuses_a_task_drop_rule_gate_would_refuse(tmp_path):
    """`gate` refuses a `task_drop` naming a task the run lacks (check_policy); so does `plan` for the suite."""
    policy = tmp_path / "policy.toml"
    policy.write_text("max_task_drop = 5.0\n[task_drop]\nfb_not_a_task = 3.0\n")
    proc = subprocess.run([sys.executable, "-m", "forgetbench", "plan", "--suite", "offline-lite", "--policy", str(policy)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "forgetbench: error: policy task_drop names task(s) not in suite offline-lite: fb_not_a_task"
    ]
