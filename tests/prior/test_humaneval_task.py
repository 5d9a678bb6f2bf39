"""Tests for the offline HumanEval lm-eval tasks (tasks/offline/fb_humaneval*.yaml). No model.

The task files are copied into a private directory so that other YAML files in tasks/ cannot
change what is registered here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from lm_eval.api.instance import Instance
from lm_eval.api.model import LM
from lm_eval.tasks import TaskManager

TASK_DIR = Path(__file__).resolve().parents[2] / "tasks" / "offline"
TASK_FILES = (
    "_fb_humaneval_common.yaml",
    "fb_humaneval.yaml",
    "fb_humaneval_lite.yaml",
    "humaneval_helpers.py",
)


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("humaneval_tasks")
    for name in TASK_FILES:
        shutil.copy(TASK_DIR / name, target / name)
    return target


def _manager(task_dir: Path) -> TaskManager:
    return TaskManager(include_path=str(task_dir), include_defaults=False)


def _docs(task_dir: Path, name: str) -> list[dict[str, Any]]:
    task = _manager(task_dir).load([name])["tasks"][name]
    return list(task.test_docs())


def test_tasks_are_registered(task_dir: Path) -> None:
    assert set(_manager(task_dir).all_tasks) == {"fb_humaneval", "fb_humaneval_lite"}


def test_task_config(task_dir: Path) -> None:
    task = _manager(task_dir).load(["fb_humaneval_lite"])["tasks"]["fb_humaneval_lite"]
    assert task.UNSAFE_CODE
    assert task.OUTPUT_TYPE == "generate_until"
    assert task.config.generation_kwargs["max_gen_toks"] == 256
    assert task.config.generation_kwargs["do_sample"] is False
    assert task.config.num_fewshot == 0


def test_lite_is_a_fixed_sorted_subsample(task_dir: Path) -> None:
    first = _docs(task_dir, "fb_humaneval_lite")
    second = _docs(task_dir, "fb_humaneval_lite")
    full = _docs(task_dir, "fb_humaneval")
    assert len(first) == 20
    assert first == second
    assert len(full) == 164
    ids = [d["task_id"] for d in full]
    positions = [ids.index(d["task_id"]) for d in first]
    assert positions == sorted(positions)
    assert set(first[0]) == {"task_id", "prompt", "canonical_solution", "test", "entry_point"}


def test_legacy_loader_also_builds_the_task(task_dir: Path) -> None:
    with pytest.warns(DeprecationWarning):
        loaded = _manager(task_dir).load_task_or_group(["fb_humaneval_lite"])
    assert len(list(loaded["fb_humaneval_lite"].test_docs())) == 20


def test_canonical_solutions_score_one(task_dir: Path) -> None:
    task = _manager(task_dir).load(["fb_humaneval_lite"])["tasks"]["fb_humaneval_lite"]
    docs = list(task.test_docs())
    assert task.doc_to_text(docs[0]) == docs[0]["prompt"]
    for doc in docs:
        assert task.process_results(doc, [doc["canonical_solution"]]) == {"pass@1": 1.0}
    assert task.process_results(docs[0], ["    return None\n"]) == {"pass@1": 0.0}


class _CanonicalLM(LM):
    """A fake model that answers every HumanEval prompt with its canonical solution."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__()
        self.answers = answers

    def generate_until(self, requests: list[Instance]) -> list[str]:
        return [self.answers[request.args[0]] for request in requests]

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError

    def loglikelihood_rolling(self, requests: list[Instance]) -> list[float]:
        raise NotImplementedError


def test_simple_evaluate_end_to_end(task_dir: Path) -> None:
    from lm_eval import simple_evaluate

    docs = _docs(task_dir, "fb_humaneval_lite")
    lm = _CanonicalLM({d["prompt"]: d["canonical_solution"] for d in docs})
    manager = _manager(task_dir)
    with pytest.raises(ValueError, match="confirm_run_unsafe_code"):
        simple_evaluate(model=lm, tasks=["fb_humaneval_lite"], task_manager=manager)
    out = simple_evaluate(
        model=lm,
        tasks=["fb_humaneval_lite"],
        task_manager=manager,
        confirm_run_unsafe_code=True,
        log_samples=True,
        bootstrap_iters=0,
    )
    assert out is not None
    assert out["results"]["fb_humaneval_lite"]["pass@1,none"] == 1.0
    assert len(out["samples"]["fb_humaneval_lite"]) == 20
