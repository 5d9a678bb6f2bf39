"""The RL's Razor mini study's new task (tasks/numrange): generated items, the exact verifier, and the lm-eval
task that scores with it. No model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TASK_DIR = Path(__file__).resolve().parents[2] / "tasks" / "numrange"


def _module():
    spec = importlib.util.spec_from_file_location("numrange_under_test", TASK_DIR / "numrange.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


numrange = _module()


def test_splits_are_deterministic_disjoint_and_of_their_stated_sizes():
    train, heldout = numrange.docs("train"), numrange.docs("heldout")
    assert (len(train), len(heldout)) == (numrange.TRAIN, numrange.HELDOUT)
    assert train == numrange.docs("train") and heldout == numrange.docs("heldout")
    pairs = lambda docs: {(d["lo"], d["hi"]) for d in docs}  # noqa: E731
    assert len(pairs(train)) == numrange.TRAIN and not pairs(train) & pairs(heldout)
    with pytest.raises(ValueError, match="train or heldout"):
        numrange.docs("test")


def test_every_item_has_many_correct_answers_and_its_example_is_one_of_them():
    for d in numrange.docs("train") + numrange.docs("heldout"):
        answers = d["hi"] - d["lo"] - 1
        assert numrange.MIN_WIDTH - 1 <= answers <= numrange.MAX_WIDTH - 2
        assert numrange.verify(d["example"], d["lo"], d["hi"])
        assert d["prompt"].endswith(f"greater than {d['lo']} and less than {d['hi']}.\nAnswer:")


@pytest.mark.parametrize(
    ("response", "ok"),
    [
        (" 25", True),
        ("25.", True),
        (" The number is 39", True),
        (" 21", False),  # the bounds themselves are excluded
        (" 40", False),
        (" 12 or 25", False),  # the first number decides
        (" -25", False),
        (" twenty-five", False),
        ("", False),
    ],
)
def test_the_verifier_takes_the_first_whole_number_strictly_between_the_bounds(response, ok):
    assert numrange.verify(response, 21, 40) is ok


def test_the_lm_eval_task_scores_with_the_verifier(tmp_path):
    from lm_eval.tasks import TaskManager

    tasks = TaskManager(include_path=str(TASK_DIR), include_defaults=False).load(
        ["fb_numrange", "fb_numrange_lite", "fb_numrange_smoke", "fb_numrange_train"]
    )["tasks"]
    sizes = {name: len(list(task.eval_docs)) for name, task in tasks.items()}
    assert sizes == {"fb_numrange": 1000, "fb_numrange_lite": 200, "fb_numrange_smoke": 16, "fb_numrange_train": 2000}
    task = tasks["fb_numrange"]
    doc = next(iter(task.eval_docs))
    assert task.doc_to_text(doc) == doc["prompt"]
    for response in (" 25", f" {doc['lo'] + 1}", f" {doc['hi']}", " none"):
        assert task.process_results(doc, [response]) == {"valid": float(numrange.verify(response, doc["lo"], doc["hi"]))}
