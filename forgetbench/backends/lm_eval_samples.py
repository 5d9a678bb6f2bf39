"""Reading lm-eval's sample records: an item's metric value (`item_value`) and its evidence (`evidence`).

One lm-eval sample → `ItemEvidence`: the prompt, the options, the gold answer and what the model did
(log-likelihood per option, or its generation), clipped so a suite's evidence stays bounded.

Shared by live runs (`lm_eval_tasks`, on the samples `simple_evaluate` returns) and by `prior.logs` (on the
lines `lm_eval --log_samples` wrote, where `arguments` is `{"gen_args_i": {"arg_j": …}}` and responses are
text), so a report shows the same evidence either way.

Bounds, per item and model: the prompt's last `CONTEXT_CHARS` characters (the question sits at its end;
few-shot examples before it are cut first), each option's first `CHOICE_CHARS`, a generation's or a text
target's first `TEXT_CHARS`. A clipped text carries `…` where it was cut.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from forgetbench.core.results import ItemEvidence

CONTEXT_CHARS = 1500
CHOICE_CHARS = 300
TEXT_CHARS = 2000
SCORED_BY_OPTIONS = ("multiple_choice", "loglikelihood")


def item_value(raw: Any) -> float | None:
    """One item's metric value as lm-eval gives it — a number, a bool, a numpy scalar, or the text lm-eval
    < 0.4.13 wrote for numpy scalars in its logs (`"0.6666667"`, `"True"`) — as a float; None when it is
    not one number (a corpus-level metric's (reference, prediction) pair). Shared by live runs and by
    `prior.logs`, so both accept the same values."""
    if isinstance(raw, str):
        text = raw.strip()
        if text in ("True", "False"):
            return float(text == "True")
        try:
            return float(text)
        except ValueError:
            return None
    if isinstance(raw, (bool, int, float)):
        return float(raw)
    if getattr(raw, "shape", None) == () and hasattr(raw, "dtype"):  # a numpy scalar
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None
    return None


def clip_head(text: str, n: int) -> str:
    """`text`'s first `n` characters (`…` last when cut)."""
    return text if len(text) <= n else text[: n - 1] + "…"


def clip_tail(text: str, n: int) -> str:
    """`text`'s last `n` characters (`…` first when cut)."""
    return text if len(text) <= n else "…" + text[-(n - 1) :]


def _arguments(raw: Any) -> list[list[Any]]:
    """Each request's arguments: (context, continuation) or (context, generation settings)."""
    if isinstance(raw, dict):  # the logs: {"gen_args_0": {"arg_0": …, "arg_1": …}, …}, in request order
        raw = [list(v.values()) if isinstance(v, dict) else [v] for v in raw.values()]
    if not isinstance(raw, (list, tuple)):
        return []
    return [list(a) if isinstance(a, (list, tuple)) else [a] for a in raw]


def _leaf(value: Any) -> Any:
    """The first non-list value inside lm-eval's nested responses."""
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
    return value


def _gold(target: Any, choices: tuple[str, ...]) -> int | None:
    """The gold option's index: an index (an int, or the digits lm-eval's logs write for one), else the
    option whose text is the target's; None when neither (several golds: the first)."""
    if isinstance(target, list):
        target = target[0] if target else None
    if isinstance(target, int) and not isinstance(target, bool):
        return target if 0 <= target < len(choices) else None
    if isinstance(target, str):
        text = target.strip()
        if text.isdigit() and int(text) < len(choices):
            return int(text)
        return next((i for i, c in enumerate(choices) if c.strip() == text), None)
    return None


def evidence(sample: dict[str, Any], output_type: str) -> ItemEvidence | None:
    """The evidence of one lm-eval sample of a task of `output_type`; None when the sample carries no
    arguments (nothing to show). `pick` is left None: the metric decides it (`with_pick`)."""
    args = _arguments(sample.get("arguments"))
    if not args or not args[0]:
        return None
    context = clip_tail(str(args[0][0]), CONTEXT_CHARS)
    target = sample.get("target")
    filtered = sample.get("filtered_resps")
    filtered = list(filtered) if isinstance(filtered, (list, tuple)) else []
    if output_type in SCORED_BY_OPTIONS:
        full = tuple(str(a[1]) if len(a) > 1 else "" for a in args)
        values = [item_value(_leaf(f)) for f in filtered]
        lls = tuple(v for v in values if v is not None) if len(values) == len(full) and None not in values else ()
        gold = _gold(target, full) if output_type == "multiple_choice" else None
        choices = tuple(clip_head(c, CHOICE_CHARS) for c in full)
        text = choices[gold] if gold is not None else clip_head(str(target), TEXT_CHARS)
        return ItemEvidence(context, choices, text, gold, lls, None, None, None)
    if output_type == "loglikelihood_rolling":  # a text's log-likelihood (perplexity tasks): no options, no generation
        value = item_value(_leaf(filtered))
        return ItemEvidence(context, (), "", None, () if value is None else (value,), None, None, None)
    generation = sample.get("resps")
    gen = None if generation is None else clip_head(str(_leaf(generation)), TEXT_CHARS)
    answer = None if not filtered else clip_head(str(_leaf(filtered)), TEXT_CHARS)
    return ItemEvidence(context, (), clip_head(str(target), TEXT_CHARS), None, (), None, gen, None if answer == gen else answer)


def with_pick(ev: ItemEvidence, metric: str, score: float) -> ItemEvidence:
    """`ev` with the option the metric took: argmax of the log-likelihoods, per character of the option
    for `acc_norm` (lm-eval's rule; the option without its leading delimiter space). Left None where it
    cannot be told: no options, or a pick that contradicts the item's 0/1 score (an option clipped, or a
    gold lm-eval read otherwise)."""
    if len(ev.loglikelihoods) < 2 or len(ev.loglikelihoods) != len(ev.choices):
        return ev
    lls = list(ev.loglikelihoods)
    if metric.startswith("acc_norm"):
        lls = [ll / max(1, len(c) - c.startswith(" ")) for ll, c in zip(lls, ev.choices)]
    pick = max(range(len(lls)), key=lls.__getitem__)
    if ev.gold is not None and score in (0.0, 1.0) and (pick == ev.gold) != (score == 1.0):
        return ev
    return dataclasses.replace(ev, pick=pick)
