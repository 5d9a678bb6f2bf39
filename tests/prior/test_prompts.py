"""Old-task prompts (`suite_prompts`): a prior suite's own items, rendered as lm-eval renders them.

Each text is checked against the context of the request lm-eval itself hands a model when it runs the
task as `prior.run` does (`simple_evaluate`, the same limit, few-shot and seeds), recorded by an lm-eval
`LM` that answers without a model."""

from __future__ import annotations

import shutil
from collections import Counter
from unittest.mock import patch

import pytest

from forgetbench.core.errors import SuiteError, UserInputError
from forgetbench.core.progress import Reporter
from forgetbench.prior.prompts import suite_prompts
from forgetbench.prior.run import SEEDS
from forgetbench.prior.suites import resolve_suite, tasks_dir

NO_ASDIV = "offline-lite-no-asdiv"


def lm_eval_contexts(suite: str, limit: int | None = None, num_fewshot: int | None = None) -> dict[tuple[str, int], str]:
    """(task, doc_id) → the context lm-eval puts in the first request of that doc, for every item the
    suite evaluates, from lm-eval's own `simple_evaluate` on freshly built tasks."""
    import lm_eval
    import lm_eval.evaluator
    from lm_eval.api.model import LM

    class Recorder(LM):
        def __init__(self) -> None:
            super().__init__()
            self.contexts: dict[tuple[str, int], str] = {}

        def _record(self, requests):
            for r in requests:
                if r.idx == 0:
                    self.contexts[(r.task_name, r.doc_id)] = r.args[0]

        def loglikelihood(self, requests):
            self._record(requests)
            return [(-1.0, False)] * len(requests)

        def loglikelihood_rolling(self, requests):
            return [-1.0] * len(requests)

        def generate_until(self, requests):
            self._record(requests)
            return [""] * len(requests)

    resolved, tm = resolve_suite(suite)
    built = tm.load([st.name for st in resolved.tasks])["tasks"]
    lm = Recorder()
    with patch.object(lm_eval.evaluator, "add_env_info", lambda *_: None):  # `pip list` and friends: seconds per call
        lm_eval.simple_evaluate(model=lm, tasks=[built[st.name] for st in resolved.tasks], limit=limit,
                                num_fewshot=num_fewshot, log_samples=False, bootstrap_iters=0, task_manager=tm, **SEEDS)  # fmt: skip
    return lm.contexts


def doc_ids(prompts, suite: str, limit: int | None = None) -> list[tuple[str, int]]:
    """(task, doc_id) of each prompt, from `indices` (the concatenation of the evaluated items)."""
    resolved, tm = resolve_suite(suite)
    built = tm.load([st.name for st in resolved.tasks])["tasks"]
    start, offsets = 0, {}
    for st in resolved.tasks:
        offsets[st.name] = start
        start += len(built[st.name].eval_docs) if limit is None else min(limit, len(built[st.name].eval_docs))
    assert prompts.available == start
    return [(t, i - offsets[t]) for t, i in zip(prompts.tasks, prompts.indices, strict=True)]


def test_deterministic_and_every_task_contributes():
    a = suite_prompts(NO_ASDIV, 64, 7)
    assert a == suite_prompts(NO_ASDIV, 64, 7)
    assert a.source == f"suite:{NO_ASDIV}" and len(a.texts) == len(a.tasks) == len(a.indices) == 64
    assert list(a.indices) == sorted(set(a.indices)) and a.available == 340
    counts = Counter(a.tasks)
    assert list(counts) == [st.name for st in resolve_suite(NO_ASDIV)[0].tasks]  # suite order, each one there
    assert max(counts.values()) - min(counts.values()) <= 1
    b = suite_prompts(NO_ASDIV, 64, 8)
    assert b.indices != a.indices and Counter(b.tasks) == counts


def test_every_context_is_lm_evals_own_request_context():
    """All 380 items of offline-lite (multiple choice and ASDiv's generation) against lm-eval's requests."""
    prompts = suite_prompts("offline-lite", 10_000, 0)
    assert len(prompts.texts) == prompts.available == 380
    recorded = lm_eval_contexts("offline-lite")
    ids = doc_ids(prompts, "offline-lite")
    assert sorted(ids) == sorted(recorded)
    mismatched = [k for k, text in zip(ids, prompts.texts, strict=True) if recorded[k] != text]
    assert not mismatched
    assert not any(text.rstrip().endswith(tuple(" " + c for c in "ABCD")) for text in prompts.texts)
    assert all(text.endswith("Answer:") for text in prompts.texts)  # the question, no answer option


def test_more_than_available_takes_all_within_the_limit():
    prompts = suite_prompts(NO_ASDIV, 100, 0, limit=3)
    assert prompts.available == 21 and prompts.indices == tuple(range(21))
    assert Counter(prompts.tasks) == {st.name: 3 for st in resolve_suite(NO_ASDIV)[0].tasks}
    assert all(doc < 3 for _, doc in doc_ids(prompts, NO_ASDIV, limit=3))


def test_unknown_suite_and_bad_counts_are_one_line_usage_errors():
    with pytest.raises(SuiteError, match="unknown suite 'no-such-suite'") as info:
        suite_prompts("no-such-suite", 64, 0)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    with pytest.raises(UserInputError, match="at least 1"):
        suite_prompts(NO_ASDIV, 0, 0)


FEWSHOT = """include: fb_boolq_lite.yaml
task: fb_boolq_fs
num_fewshot: 2
fewshot_split: test
"""
NULLSHOT = """include: fb_piqa_lite.yaml
task: fb_piqa_fs
num_fewshot: null
fewshot_split: test
"""
ROLLING = """include: fb_piqa_lite.yaml
task: fb_piqa_rolling
output_type: loglikelihood_rolling
doc_to_target: question
metric_list: [{metric: word_perplexity}]
"""
PER_OPTION = """include: fb_piqa_lite.yaml
task: fb_piqa_options
doc_to_text: gold
doc_to_target: question
"""
SUITE = """group: {name}
task: [{tasks}]
metadata:
  forgetbench_suite: true
  description: test
  primary_metric: {{{metrics}}}
"""


@pytest.fixture(scope="module")
def own_tasks(tmp_path_factory):
    """A tasks folder with offline's tasks plus few-shot and whole-document variants, and suites of them."""
    root = tmp_path_factory.mktemp("tasks")
    shutil.copytree(tasks_dir() / "offline", root / "offline")
    extra = {"fb_boolq_fs": FEWSHOT, "fb_piqa_fs": NULLSHOT, "fb_piqa_rolling": ROLLING, "fb_piqa_options": PER_OPTION}
    for name, text in extra.items():
        (root / "offline" / f"{name}.yaml").write_text(text)
    suites = {
        "fs": ["fb_boolq_fs", "fb_piqa_fs"],
        "mixed": ["fb_logiqa_lite", "fb_piqa_rolling", "fb_piqa_options"],
        "options": ["fb_piqa_options"],
    }
    for name, tasks in suites.items():
        metrics = ", ".join(f"{t}: {'word_perplexity' if 'rolling' in t else 'acc'}" for t in tasks)
        (root / "offline" / f"_suite_{name}.yaml").write_text(SUITE.format(name=name, tasks=", ".join(tasks), metrics=metrics))
    return root


@pytest.mark.parametrize("num_fewshot", [None, 1])
def test_few_shot_contexts_are_lm_evals_own(own_tasks, monkeypatch, num_fewshot):
    """lm-eval's few-shot sampler is drawn doc after doc: each chosen doc gets the examples lm-eval gives it."""
    monkeypatch.setenv("FORGETBENCH_TASKS_DIR", str(own_tasks))
    prompts = suite_prompts("fs", 12, 3, num_fewshot=num_fewshot)
    recorded = lm_eval_contexts("fs", num_fewshot=num_fewshot)
    ids = doc_ids(prompts, "fs")
    assert [recorded[k] for k in ids] == list(prompts.texts)
    shots = [t.count("Answer:") - 1 for t in prompts.texts]
    expected = {None: {"fb_boolq_fs": 2, "fb_piqa_fs": 0}, 1: {"fb_boolq_fs": 1, "fb_piqa_fs": 1}}[num_fewshot]
    assert shots == [expected[t] for t in prompts.tasks]


def test_a_task_without_prompt_text_is_an_error_or_left_out(own_tasks, monkeypatch):
    monkeypatch.setenv("FORGETBENCH_TASKS_DIR", str(own_tasks))
    with pytest.raises(SuiteError, match=r"fb_piqa_rolling.*whole documents"):
        suite_prompts("mixed", 8, 0)
    with pytest.raises(SuiteError, match=r"fb_piqa_options.*one context per answer option"):
        suite_prompts("options", 8, 0)

    class Messages(Reporter):
        def __init__(self) -> None:
            self.said: list[str] = []

        def message(self, text: str) -> None:
            self.said.append(text)

    reporter = Messages()
    prompts = suite_prompts("mixed", 8, 0, skip_non_text=True, reporter=reporter)
    assert set(prompts.tasks) == {"fb_logiqa_lite"} and len(prompts.texts) == 8 and prompts.available == 20
    assert [m.split(" (")[0] for m in reporter.said] == [
        "old-task prompts: task fb_piqa_rolling left out",
        "old-task prompts: task fb_piqa_options left out",
    ]
    with pytest.raises(SuiteError, match="none of its tasks"):
        suite_prompts("options", 8, 0, skip_non_text=True)
