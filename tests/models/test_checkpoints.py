"""Training output folders: checkpoint discovery by step, names in a sweep, refusals (no model loaded)."""

from __future__ import annotations

import pytest

from forgetbench.core.errors import ModelSpecError
from forgetbench.models.checkpoints import expand
from forgetbench.models.spec import resolve


def _run(root, steps):
    for s in steps:
        (root / f"checkpoint-{s}").mkdir(parents=True)
        (root / f"checkpoint-{s}" / "adapter_config.json").write_text("{}")
    return root


def test_checkpoints_are_ordered_by_step_not_by_text(tmp_path):
    run = _run(tmp_path / "run", [100, 5, 20])
    (run / "runs").mkdir()  # a trainer's log folder is not a checkpoint
    found = expand([str(run)])
    assert [c.step for c in found] == [5, 20, 100] and [c.name for c in found] == [
        "checkpoint-5",
        "checkpoint-20",
        "checkpoint-100",
    ]


def test_two_runs_with_the_same_steps_get_distinct_names(tmp_path):
    a, b = _run(tmp_path / "lr1e-4", [10]), _run(tmp_path / "lr3e-4", [10])
    assert [c.name for c in expand([str(a), str(b)])] == ["lr1e-4-checkpoint-10", "lr3e-4-checkpoint-10"]


def test_folders_without_models_or_checkpoints_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelSpecError, match="empty"):
        expand([str(tmp_path / "empty")])
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "trainer_state.json").write_text("{}")
    with pytest.raises(ModelSpecError, match=r"no config\.json, adapter_config\.json or checkpoint-"):
        expand([str(tmp_path / "logs")])
    with pytest.raises(ModelSpecError, match="named twice"):
        expand([str(_run(tmp_path / "r", [1])), str(tmp_path / "r" / "checkpoint-1")])


def test_a_training_folder_where_one_model_is_expected_says_what_to_do(tmp_path):
    run = _run(tmp_path / "run", [10, 20])
    with pytest.raises(ModelSpecError, match=r"a training output folder \(2 checkpoint-\* folders\).*forgetbench sweep"):
        resolve(str(run))


def test_a_checkpoint_folder_without_a_step_is_named_not_dropped(tmp_path):
    """`checkpoint-final` / `checkpoint-abc` have no step to place on the trajectory: refused with one line
    naming them and how to include them, never silently left out."""
    run = _run(tmp_path / "run", [10, 20])
    for odd in ("checkpoint-final", "checkpoint-abc"):
        (run / odd).mkdir()
        (run / odd / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelSpecError) as refused:
        expand([str(run)])
    assert str(refused.value) == (
        f"{run}: checkpoint-abc and checkpoint-final are not checkpoint-<step> (no step to place on the trajectory); "
        f"rename, or give the checkpoints one by one ({run}/checkpoint-[0-9]*, and {run}/checkpoint-abc by name if wanted)"
    )
    # Named on its own it is one checkpoint, without a step, beside the stepped ones.
    found = expand([str(run / "checkpoint-10"), str(run / "checkpoint-final")])
    assert [(c.name, c.step) for c in found] == [("checkpoint-10", None), ("checkpoint-final", None)]
    only = _run(tmp_path / "only", [])
    (only / "checkpoint-final").mkdir(parents=True)
    with pytest.raises(ModelSpecError, match="checkpoint-final is not checkpoint-<step>"):
        expand([str(only)])
    with pytest.raises(ModelSpecError, match=r"a training output folder \(1 checkpoint-\* folders\)"):
        resolve(str(only))


def test_two_folders_of_one_step_are_refused(tmp_path):
    run = _run(tmp_path / "run", ["2", "02", "4"])
    with pytest.raises(
        ModelSpecError, match=r"^.*run: checkpoint-02 and checkpoint-2 are both step 2; remove or rename one of them$"
    ):
        expand([str(run)])


def test_a_model_folder_with_an_odd_checkpoint_folder_inside_is_one_model(tmp_path):
    model = tmp_path / "model"
    (model / "checkpoint-final").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    assert [(c.spec, c.step) for c in expand([str(model)])] == [(str(model), None)]
