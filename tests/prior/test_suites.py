"""Suite resolution, including razor6 (lm-eval's own tasks) and lm-eval's silent YAML skipping."""

from __future__ import annotations

import shutil

import pytest

from forgetbench.core.errors import SuiteError
from forgetbench.prior.suites import resolve_suite, suite_names, tasks_dir

OFFLINE = ["mmlu", "boolq", "piqa", "openbookqa", "commonsenseqa", "siqa", "logiqa", "asdiv"]


def test_suites_are_listed():
    assert {"offline", "offline-lite", "offline-code", "offline-code-lite", "razor6"} <= set(suite_names())


def test_offline_lite_resolves_to_its_eight_tasks():
    suite, _ = resolve_suite("offline-lite")
    assert [t.name for t in suite.tasks] == [f"fb_{n}_lite" for n in OFFLINE]
    assert not suite.builtin
    assert {t.metric for t in suite.tasks} == {"acc", "exact_match"}


def test_razor6_resolves_to_lm_evals_own_tasks():
    suite, tm = resolve_suite("razor6")
    assert suite.members == ("hellaswag", "truthfulqa_mc2", "mmlu", "ifeval", "winogrande", "humaneval")
    assert suite.builtin
    leaves = [t.name for t in suite.tasks]
    assert {"hellaswag", "truthfulqa_mc2", "ifeval", "winogrande", "humaneval"} <= set(leaves)
    mmlu = [t for t in suite.tasks if t.member == "mmlu"]
    assert len(mmlu) == 57 and all(t.metric == "acc" for t in mmlu)
    assert next(t for t in suite.tasks if t.name == "hellaswag").metric == "acc_norm"
    assert all(name in tm.task_index for name in leaves)


def test_unknown_suite_names_the_known_ones():
    with pytest.raises(SuiteError, match="offline-lite"):
        resolve_suite("no-such-suite")


def test_a_member_whose_yaml_lm_eval_skipped_is_an_error(tmp_path, monkeypatch):
    root = tmp_path / "tasks"
    shutil.copytree(tasks_dir() / "offline", root / "offline")
    # Break one task's YAML: lm-eval drops it from its index without a word.
    (root / "offline" / "fb_piqa_lite.yaml").write_text("include: _mc_common.yaml\ntask: [unclosed\n")
    monkeypatch.setenv("FORGETBENCH_TASKS_DIR", str(root))
    with pytest.raises(SuiteError, match=r"fb_piqa_lite.*not registered"):
        resolve_suite("offline-lite")
