"""Evidence from lm-eval samples: the in-memory form `simple_evaluate` returns and the line lm-eval 0.4.13's
`--log_samples` writes for it (its own sanitising: `lm_eval.utils.sanitize_list`, arguments as
`gen_args_i`/`arg_j`, the target as text) give the same evidence, for each output type. The real logs of real
runs: tests/pipeline/test_compare.py (compare's evidence equals score's)."""

from __future__ import annotations

import json

import pytest
from lm_eval.utils import sanitize_list

from forgetbench.backends.lm_eval_samples import CHOICE_CHARS, CONTEXT_CHARS, checked, clip_head, clip_tail, evidence


def logged(sample: dict) -> dict:
    """What lm-eval 0.4.13's EvaluationTracker writes for `sample` (loggers/evaluation_tracker.py)."""
    line = dict(sample)
    line["arguments"] = {f"gen_args_{i}": {f"arg_{j}": a for j, a in enumerate(arg)} for i, arg in enumerate(sample["arguments"])}
    line["resps"], line["filtered_resps"] = sanitize_list(sample["resps"]), sanitize_list(sample["filtered_resps"])
    line["target"] = str(sample["target"])
    return json.loads(json.dumps(line, default=str))


MC = {"doc_id": 0, "target": 2, "arguments": [("Q: sky?\nA:", " red"), ("Q: sky?\nA:", " green"), ("Q: sky?\nA:", " blue")],
      "resps": [[(-5.0, False)], [(-4.0, False)], [(-1.5, True)]], "filtered_resps": [(-5.0, False), (-4.0, False), (-1.5, True)]}  # fmt: skip
GEN = {"doc_id": 1, "target": "42", "arguments": [("Q: 6*7?\nA:", {"until": ["\n"], "max_gen_toks": 32})],
       "resps": [["The answer is 42 <script>"]], "filtered_resps": ["42"]}  # fmt: skip
ROLLING = {"doc_id": 2, "target": "", "arguments": [("A whole text.",)], "resps": [[-37.25]], "filtered_resps": [-37.25]}


@pytest.mark.parametrize("form", [dict, logged])
def test_multiple_choice(form):
    ev = evidence(form(MC), "multiple_choice", "acc")
    assert ev is not None and ev.context == "Q: sky?\nA:" and ev.choices == (" red", " green", " blue")
    assert (ev.gold, ev.target, ev.loglikelihoods, ev.pick, ev.generation) == (2, " blue", (-5.0, -4.0, -1.5), 2, None)
    # acc_norm divides by the option's length without the target delimiter (lm-eval's rule): -3.0/5 beats -2.9/4.
    close = {**MC, "filtered_resps": [(-5.0, False), (-3.0, False), (-2.9, True)]}
    assert evidence(form(close), "multiple_choice", "acc").pick == 2
    assert evidence(form(close), "multiple_choice", "acc_norm").pick == 1
    assert evidence(form(close), "multiple_choice", "acc_mutual_info").pick is None  # a rule it does not know
    assert checked(ev, 0.0).pick is None and checked(ev, 1.0).pick == 2  # a pick contradicting the score is dropped
    several = evidence(form({**MC, "target": [2, 0]}), "multiple_choice", "acc")  # the logs write "[2, 0]"
    assert several is not None and several.gold == 2


WINO = {"doc_id": 3, "target": " was tired.", "arguments": [("Sam helped Kim because Sam", " was tired."),
        ("Sam helped Kim because Kim", " was tired.")], "resps": [[(-9.0, False)], [(-7.0, False)]],
        "filtered_resps": [(-9.0, False), (-7.0, False)]}  # fmt: skip


@pytest.mark.parametrize("form", [dict, logged])
def test_options_that_are_contexts(form):
    """WinoGrande's form: one context per option and a shared continuation; the gold is not in the sample."""
    ev = evidence(form(WINO), "multiple_choice", "acc")
    assert ev is not None and ev.choices == ("Sam helped Kim because Sam", "Sam helped Kim because Kim")
    assert (ev.context, ev.gold, ev.pick) == (" was tired.", None, 1)
    assert checked(ev, 1.0).gold == 1 and checked(ev, 0.0).gold == 0  # two options: the score tells the gold
    assert evidence(form(WINO), "multiple_choice", "acc_norm").pick is None


@pytest.mark.parametrize("form", [dict, logged])
def test_one_continuation_is_scored_by_being_greedy(form):
    lam = {"doc_id": 4, "target": " dog", "arguments": [("The quick brown fox jumps over the lazy", " dog")],
           "resps": [[(-0.7, True)]], "filtered_resps": [(-0.7, True)]}  # fmt: skip
    ev = evidence(form(lam), "loglikelihood", "acc")
    assert ev is not None and (ev.choices, ev.loglikelihoods, ev.pick) == ((" dog",), (-0.7,), 0)
    miss = {**lam, "filtered_resps": [(-3.1, False)]}
    assert evidence(form(miss), "loglikelihood", "acc").pick is None


@pytest.mark.parametrize("form", [dict, logged])
def test_generation_and_rolling(form):
    gen = evidence(form(GEN), "generate_until")
    assert gen is not None and (gen.choices, gen.target, gen.generation, gen.answer) == (
        (),
        "42",
        "The answer is 42 <script>",
        "42",
    )
    rolling = evidence(form(ROLLING), "loglikelihood_rolling")
    assert rolling is not None and rolling.loglikelihoods == (-37.25,) and rolling.generation is None


def test_long_texts_are_clipped_where_they_matter():
    ctx = "few-shot " * 1000 + "the question?"
    ev = evidence({**MC, "arguments": [(ctx, " " + "x" * 1000)] * 3}, "multiple_choice", "acc")
    assert ev is not None and ev.context == clip_tail(ctx, CONTEXT_CHARS) and ev.context.endswith("the question?")
    assert len(ev.context) == CONTEXT_CHARS and ev.context.startswith("…")
    assert ev.choices[0] == clip_head(" " + "x" * 1000, CHOICE_CHARS) and len(ev.choices[0]) == CHOICE_CHARS
    assert evidence({"doc_id": 0}, "multiple_choice") is None
