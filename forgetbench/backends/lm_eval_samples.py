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
import json
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
    """The first non-list value inside lm-eval's nested responses (None for an empty list)."""
    while isinstance(value, (list, tuple)):
        if not value:
            return None
        value = value[0]
    return value


def _target(raw: Any) -> Any:
    """The target as lm-eval's `doc_to_target` gave it: the logs write `str(target)`, so a list of golds
    comes back as the text `[0, 2]` and is read as that list again."""
    if isinstance(raw, str) and raw.startswith("[") and raw.endswith("]"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


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


def _pick(lls: tuple[float, ...], options: tuple[str, ...], metric: str | None, delimiter: str, by_context: bool) -> int | None:
    """The option lm-eval's multiple-choice scoring took for `metric` (api/task.py, `process_results`), from the
    unclipped options: `acc` the largest log-likelihood, `acc_norm` per character and `acc_bytes` per UTF-8 byte
    of the option without the target delimiter. None for any other metric (mutual information, mc2, a task's
    own `process_results`) and for length-normalised options that are contexts (WinoGrande's form)."""
    if len(lls) < 2 or len(lls) != len(options) or metric not in ("acc", "acc_norm", "acc_bytes"):
        return None
    if metric != "acc" and by_context:
        return None
    bare = [o[len(delimiter) :] if delimiter and o.startswith(delimiter) else o for o in options]
    size = {"acc": lambda o: 1, "acc_norm": len, "acc_bytes": lambda o: len(o.encode())}[metric]
    scores = [ll / max(1, size(o)) for ll, o in zip(lls, bare)]
    return max(range(len(scores)), key=scores.__getitem__)


def _options_evidence(args: list[list[Any]], filtered: list[Any], target: Any, output_type: str, metric: str | None,
                      delimiter: str) -> ItemEvidence:  # fmt: skip
    contexts = [str(a[0]) for a in args]
    continuations = [str(a[1]) if len(a) > 1 else "" for a in args]
    # WinoGrande's form (`multiple_input`): one context per option, one shared continuation. The options are the
    # contexts' ends, the prompt is the continuation, and the gold is not in the sample (lm-eval takes it from
    # doc_to_text); `checked` deduces it for two options from the 0/1 score.
    by_context = len(args) > 1 and len(set(contexts)) > 1 and len(set(continuations)) == 1
    options, context = (tuple(contexts), continuations[0]) if by_context else (tuple(continuations), contexts[0])
    values = [item_value(_leaf(f)) for f in filtered]
    lls = tuple(v for v in values if v is not None) if len(values) == len(options) and None not in values else ()
    gold = _gold(target, options) if output_type == "multiple_choice" and not by_context else None
    pick = _pick(lls, options, metric, delimiter, by_context) if output_type == "multiple_choice" else None
    if output_type == "loglikelihood" and len(filtered) == 1:  # one continuation: scored by whether it is greedy
        greedy = filtered[0][1] if isinstance(filtered[0], (list, tuple)) and len(filtered[0]) > 1 else None
        pick = 0 if item_value(greedy) == 1.0 else None
    clip = clip_tail if by_context else clip_head
    choices = tuple(clip(o, CHOICE_CHARS) for o in options)
    text = choices[gold] if gold is not None else clip_head(str(target), TEXT_CHARS)
    return ItemEvidence(clip_tail(context, CONTEXT_CHARS), choices, text, gold, lls, pick, None, None)


def evidence(sample: dict[str, Any], output_type: str, metric: str | None = None, delimiter: str = " ") -> ItemEvidence | None:
    """The evidence of one lm-eval sample of a task of `output_type` scored by `metric` (which decides the
    option a model took; `delimiter`: the task's `target_delimiter`); None when the sample carries no
    arguments (nothing to show)."""
    args = _arguments(sample.get("arguments"))
    if not args or not args[0]:
        return None
    target = _target(sample.get("target"))
    filtered = sample.get("filtered_resps")
    filtered = list(filtered) if isinstance(filtered, (list, tuple)) else []
    if output_type in SCORED_BY_OPTIONS:
        return _options_evidence(args, filtered, target, output_type, metric, delimiter)
    context = clip_tail(str(args[0][0]), CONTEXT_CHARS)
    if output_type == "loglikelihood_rolling":  # a text's log-likelihood (perplexity tasks): no options, no generation
        value = item_value(_leaf(filtered))
        return ItemEvidence(context, (), "", None, () if value is None else (value,), None, None, None)
    raw, answer = _leaf(sample.get("resps")), _leaf(filtered)
    gen = None if raw is None else clip_head(str(raw), TEXT_CHARS)
    ans = None if answer is None else clip_head(str(answer), TEXT_CHARS)
    return ItemEvidence(context, (), clip_head(str(target), TEXT_CHARS), None, (), None, gen, None if ans == gen else ans)


def checked(ev: ItemEvidence, score: float) -> ItemEvidence:
    """`ev` squared with the item's 0/1 score: a pick that contradicts it is dropped (a gold lm-eval read
    otherwise); a two-option item without a known gold gets it from the pick and the score."""
    if ev.pick is None or score not in (0.0, 1.0) or len(ev.choices) < 2:
        return ev
    if ev.gold is None:
        return dataclasses.replace(ev, gold=ev.pick if score == 1.0 else 1 - ev.pick) if len(ev.choices) == 2 else ev
    return ev if (ev.pick == ev.gold) == (score == 1.0) else dataclasses.replace(ev, pick=None)
