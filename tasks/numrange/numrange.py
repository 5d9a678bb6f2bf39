"""The RL's Razor mini study's new task: name a whole number strictly between two bounds.

A task with many correct answers (19 to 98 per prompt), which is what lets SFT and RL part ways (RL's
Razor, arXiv 2509.04259, §4): SFT pulls the model to the one answer it was shown, on-policy RL only as
far as the reward needs. `verify` is the exact verifier: the lm-eval metric (`process_results`) and the
RL reward of `studies/razor_mini` are this one function.

Docs are generated, not downloaded: a seeded draw of distinct (lo, hi) pairs, split into disjoint
`train` (first 2000) and `heldout` (last 1000) parts, so the same items exist on every machine.
lm-eval loads this module through the `!function` tags of the YAML files beside it.
"""

from __future__ import annotations

import re

import datasets
import numpy as np

SEED = 20250904
"""The generator's seed (RL's Razor's arXiv date); changing it changes every item."""
TRAIN, HELDOUT = 2000, 1000
LOW, HIGH = 10, 990
"""lo is drawn from [LOW, HIGH); hi = lo + a width drawn from [MIN_WIDTH, MAX_WIDTH)."""
MIN_WIDTH, MAX_WIDTH = 20, 100
EXAMPLE = "Reply with only a whole number greater than 120 and less than 170.\nAnswer: 143\n\n"
"""One worked example before every item: without it SmolLM2-135M-Instruct rarely answers with a number at all
(1.5 % valid when sampled), too rare a reward for RL on 2 CPU cores; with it, about 6 %."""
PROMPT = EXAMPLE + "Reply with only a whole number greater than {lo} and less than {hi}.\nAnswer:"

_NUMBER = re.compile(r"-?\d+")


def docs(split: str) -> list[dict]:
    """The `train` or `heldout` items: dicts with `lo`, `hi`, `prompt` and `example` (one fixed correct
    answer, the SFT target: a seeded uniform draw from the valid answers)."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be train or heldout, not {split!r}")
    rng = np.random.default_rng(SEED)
    pairs: dict[tuple[int, int], None] = {}
    while len(pairs) < TRAIN + HELDOUT:
        lo = int(rng.integers(LOW, HIGH))
        pairs.setdefault((lo, lo + int(rng.integers(MIN_WIDTH, MAX_WIDTH))), None)
    chosen = list(pairs)[:TRAIN] if split == "train" else list(pairs)[TRAIN:]
    answers = np.random.default_rng([SEED, 0 if split == "train" else 1])
    return [
        {"lo": lo, "hi": hi, "prompt": PROMPT.format(lo=lo, hi=hi), "example": str(int(answers.integers(lo + 1, hi)))}
        for lo, hi in chosen
    ]


def verify(response: str, lo: int, hi: int) -> bool:
    """Correct when the first whole number in the response is strictly between lo and hi."""
    match = _NUMBER.search(response)
    return match is not None and lo < int(match.group()) < hi


def load(split: str = "heldout", limit: int = 0, **_metadata) -> datasets.DatasetDict:
    """lm-eval's `custom_dataset`: the split's items (the first `limit` of them when limit > 0) as a test split."""
    items = docs(split)
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(items[:limit] if limit else items)})


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """lm-eval's metric: 1.0 when `verify` accepts the generation."""
    return {"valid": float(verify(results[0], doc["lo"], doc["hi"]))}
