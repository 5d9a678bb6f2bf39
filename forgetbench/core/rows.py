"""`ItemEvidence` as flat parquet columns and back: the store's per-task `items.parquet` holds one model's
(`evidence_row(ev)`), a run folder's `items.parquet` both models' (`pair_row`: the item's columns once, each
model's answer under `base_` / `ckpt_`). A row read back from parquet has numpy arrays for lists and NaN
for a missing integer; both are undone here."""

from __future__ import annotations

import math
from typing import Any

from forgetbench.core.results import ItemEvidence

MAX_EVIDENCE = 200
"""Changed items per task and direction whose evidence a run folder's items.parquet keeps: the largest changes
first (for 0/1 metrics every flip is a change of 1, then by doc id). Evidence of other items stays in the store.
With the per-item clipping of `backends.lm_eval_samples` (per model at most 1,500 characters of prompt, 300 per
option, 2,000 each of target, generation and scored answer) this bounds items.parquet per task to
2 × MAX_EVIDENCE items of at most ~8 KB (multiple choice: ~1.5 KB plus the options), whatever the suite's size."""

ITEM_COLUMNS = ("context", "choices", "target", "gold")
"""What the item is (the same under both models)."""
ANSWER_COLUMNS = ("loglikelihoods", "pick", "generation", "answer")
"""What a model did on it."""
EVIDENCE_COLUMNS = ITEM_COLUMNS + ANSWER_COLUMNS
"""The evidence columns, in `ItemEvidence` field order."""


def evidence_row(ev: ItemEvidence | None, prefix: str = "") -> dict[str, Any]:
    """The evidence's columns (all None when there is none)."""
    if ev is None:
        return {prefix + c: None for c in EVIDENCE_COLUMNS}
    return {prefix + c: (list(v) if isinstance(v, tuple) else v) for c, v in ((c, getattr(ev, c)) for c in EVIDENCE_COLUMNS)}


def pair_row(base: ItemEvidence | None, ckpt: ItemEvidence | None) -> dict[str, Any]:
    """A paired item's evidence columns: the item's (from the base's evidence, else the checkpoint's), then
    each model's answer, prefixed `base_` / `ckpt_`."""
    item = evidence_row(base if base is not None else ckpt)
    return {
        **{c: item[c] for c in ITEM_COLUMNS},
        **{
            f"{who}_{c}": v
            for who, ev in (("base", base), ("ckpt", ckpt))
            for c, v in evidence_row(ev).items()
            if c in ANSWER_COLUMNS
        },
    }


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _int(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _text(value: Any) -> str | None:
    return None if _missing(value) else str(value)


def evidence_of(row: dict[str, Any], who: str = "") -> ItemEvidence | None:
    """The evidence in a row's columns (`who`: `base` or `ckpt` for a run folder's paired row); None when the
    row has none (columns absent: a store entry written before forgetbench kept evidence, or an item the run
    folder keeps no evidence for)."""
    get = {c: row.get(f"{who}_{c}" if who and c in ANSWER_COLUMNS else c) for c in EVIDENCE_COLUMNS}
    if _missing(get["context"]):
        return None
    answered = not _missing(get["generation"]) or (get["loglikelihoods"] is not None and len(get["loglikelihoods"]) > 0)
    if who and not answered:  # this model's answer was not kept (its store entry predates evidence)
        return None
    return ItemEvidence(
        context=str(get["context"]),
        choices=tuple(str(c) for c in (get["choices"] if get["choices"] is not None else ())),
        target=_text(get["target"]) or "",
        gold=_int(get["gold"]),
        loglikelihoods=tuple(float(x) for x in (get["loglikelihoods"] if get["loglikelihoods"] is not None else ())),
        pick=_int(get["pick"]),
        generation=_text(get["generation"]),
        answer=_text(get["answer"]),
    )
