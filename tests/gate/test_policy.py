"""Policy loading: `n_boot` is bounded (10¹¹ replicates ran out of memory, exit 3): one line, exit 2, before
anything is computed."""

from __future__ import annotations

import pytest

from forgetbench.gate.policy import MAX_N_BOOT, GatePolicy, PolicyError, load_policy
from tests.cli.test_cli import _assert_one_line_error, _snapshot
from tests.command import fb


def _policy(tmp_path, text):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("n_boot", [100_000_000_000, MAX_N_BOOT + 1, 1e11])
def test_an_unbounded_n_boot_is_refused_naming_the_maximum(tmp_path, n_boot):
    with pytest.raises(PolicyError) as info:
        load_policy(_policy(tmp_path, f"max_kl = 3\nn_boot = {n_boot!r}\n"))
    msg = str(info.value)
    assert "n_boot must be an integer ≥ 200 and ≤ 100000" in msg and "\n" not in msg and info.value.exit_code == 2


def test_the_maximum_itself_is_accepted_and_the_python_api_is_bounded_too():
    assert GatePolicy(max_kl=3, n_boot=MAX_N_BOOT).n_boot == MAX_N_BOOT
    with pytest.raises(PolicyError, match="n_boot must be an integer from 1 to 100000"):
        GatePolicy(max_kl=3, n_boot=10**11)


def test_gate_with_an_unbounded_n_boot_is_exit_2_and_writes_nothing(score_runs, tmp_path):
    policy = _policy(tmp_path, "max_kl = 3\nn_boot = 100000000000\n")
    before = _snapshot(score_runs["barely"])
    proc = fb("gate", str(score_runs["barely"]), "--policy", str(policy), "--junit", str(tmp_path / "junit.xml"))
    _assert_one_line_error(proc, 2, "n_boot must be an integer ≥ 200 and ≤ 100000 (got 100000000000)")
    assert _snapshot(score_runs["barely"]) == before and not (tmp_path / "junit.xml").exists()
