"""The flips part of report.html: per task, the items the checkpoint lost (largest change first), then those
it gained, each with the end of the prompt and what both models answered — the options with their
log-likelihoods (each model's pick in bold, the gold marked), both generations, or a text's log-likelihood.
Drawn from items.parquet's rows (`core.rows`); bounded by `SHOWN_ITEMS`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from forgetbench.core.results import ItemEvidence, ScoreReport, TaskComparison
from forgetbench.core.rows import MAX_EVIDENCE, evidence_of
from forgetbench.report.page import esc, table
from forgetbench.report.verdict import significant
from forgetbench.runs.layout import ITEMS

SHOWN_ITEMS = 300
"""Changed items a page shows in all: per task and direction `shown_per_direction` of them, the largest
changes first, until this many are shown (items.parquet keeps more: up to `MAX_EVIDENCE` per task and direction)."""
SHOWN_PER_DIRECTION = (1, 50)
"""The fewest and the most items shown per task and direction, whatever the suite's size."""
OPEN_TASKS = 8
"""Suites with at most this many tasks show every task's flips open; larger ones open only the tasks with
a significant change."""


def mark(t: TaskComparison) -> str:
    """▼ / ▲ where a task's change is significant (`report.verdict.significant`), else nothing."""
    if not significant(t):
        return ""
    return (
        '<span class="drop" title="significant drop">▼</span>'
        if t.delta < 0
        else '<span class="gain" title="significant gain">▲</span>'
    )


def _options(item: ItemEvidence, base: ItemEvidence | None, ckpt: ItemEvidence | None) -> str:
    rows = []
    for i, choice in enumerate(item.choices):
        cells = [f'<span class="mono">{esc(choice)}</span>' + (' <span class="chip gold">gold</span>' if i == item.gold else "")]
        for who, e in (("base", base), ("ckpt", ckpt)):
            if e is None or i >= len(e.loglikelihoods):
                cells.append("–")
                continue
            text = f"{e.loglikelihoods[i]:.3f}"
            cells.append(f'<span class="pick">{text}</span><span class="chip">{who}</span>' if e.pick == i else text)
        rows.append(cells)
    note = '<div class="muted">Bold: the model\'s greedy continuation.</div>' if len(item.choices) == 1 else ""
    return table(["option", "base log-likelihood", "checkpoint log-likelihood"], rows, numeric=(1, 2)) + note


def _generations(item: ItemEvidence, base: ItemEvidence | None, ckpt: ItemEvidence | None) -> str:
    cells = []
    for who, e in (("base", base), ("checkpoint", ckpt)):
        if e is None:
            cells.append(f"<div><b>{who}</b><p class='muted'>not stored</p></div>")
            continue
        answer = "" if e.answer is None else f'<div class="muted">scored answer: <code>{esc(e.answer)}</code></div>'
        cells.append(f"<div><b>{who}</b><pre>{esc(e.generation or '')}</pre>{answer}</div>")
    return f'<div class="muted">gold: <code>{esc(item.target)}</code></div><div class="pair">{"".join(cells)}</div>'


def _rolling(base: ItemEvidence | None, ckpt: ItemEvidence | None) -> str:
    lls = [f"{who} {e.loglikelihoods[0]:.3f}" for who, e in (("base", base), ("checkpoint", ckpt)) if e and e.loglikelihoods]
    return f'<div class="muted">log-likelihood of the text: {", ".join(lls) or "–"}</div>'


def _item(row: dict[str, Any]) -> str:
    """One changed item: the prompt's end, then the options with both models' log-likelihoods, both
    generations, or the text's log-likelihood; a model whose answer was not kept shows `–` / "not stored"."""
    base, ckpt = evidence_of(row, "base"), evidence_of(row, "ckpt")
    item = base or ckpt
    head = f'<div><b>doc {int(row["doc_id"])}</b> <span class="muted">base {float(row["base"]):g} → checkpoint {float(row["ckpt"]):g}</span></div>'
    if item is None:
        return f'<div class="item">{head}<p class="muted">No evidence stored for this item.</p></div>'
    if item.choices:
        body = _options(item, base, ckpt)
    elif item.generation is not None:
        body = _generations(item, base, ckpt)
    else:  # a text's log-likelihood (perplexity tasks)
        body = _rolling(base, ckpt)
    return f'<div class="item">{head}<pre>{esc(item.context)}</pre>{body}</div>'


def shown_per_direction(n_tasks: int) -> int:
    """Items shown per task and direction: `SHOWN_ITEMS` shared by the tasks' two directions, within
    `SHOWN_PER_DIRECTION` (7 tasks: 21 each; MMLU's 57 subjects: 2 each, 228 in all)."""
    low, high = SHOWN_PER_DIRECTION
    return max(low, min(high, SHOWN_ITEMS // max(1, 2 * n_tasks)))


def _direction(title: str, rows: list[dict[str, Any]], limit: int) -> tuple[str, int]:
    """A direction's changed items with evidence, at most `limit`; the markup and how many it shows."""
    if not rows:
        return "", 0
    kept = [r for r in rows if evidence_of(r) is not None]
    shown = kept[:limit]
    if not kept:
        note = ("No evidence kept for these items: the run folder, or the store entries it was made from, predate "
                "forgetbench keeping it (`forgetbench clean` and a new run bring it).")  # fmt: skip
    elif len(rows) > len(shown):
        note = (f"This page shows {len(shown)} of {len(rows)}; {ITEMS} keeps the evidence of {len(kept)} "
                f"(the largest changes, up to {MAX_EVIDENCE} per task and direction).")  # fmt: skip
    else:
        note = ""
    body = "".join(_item(r) for r in shown) + (f'<p class="muted">{esc(note)}</p>' if note else "")
    return f"<h3>{esc(title)} ({len(rows)})</h3>" + body, len(shown)


def flips_section(r: ScoreReport, items: list[dict[str, Any]]) -> str:
    """The section: every task of the suite, its changed items."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in items:
        if float(row["ckpt"]) != float(row["base"]):
            by_task[str(row["task"])].append(row)
    out = ["<h2>What changed, item by item</h2>",
           '<p class="muted">Per task, the items the checkpoint lost first (largest drop first), then those it gained; '
           "each with the prompt's end, the options with both models' log-likelihoods (the bold one is the model's pick) "
           "or both generations.</p>"]  # fmt: skip
    limit, budget = shown_per_direction(len(r.retention.tasks)), SHOWN_ITEMS
    for t in r.retention.tasks:
        changed = sorted(by_task.get(t.task, []), key=lambda x: (-abs(float(x["ckpt"]) - float(x["base"])), int(x["doc_id"])))
        opened = " open" if (len(r.retention.tasks) <= OPEN_TASKS or significant(t)) and changed else ""
        binary = t.forgotten is not None
        words = ("forgotten", "gained") if binary else ("worse", "better")
        titles = (
            ("Forgotten (base right, checkpoint wrong)", "Gained (base wrong, checkpoint right)")
            if binary
            else ("Worse", "Better")
        )
        lost, won = ([x for x in changed if (float(x["ckpt"]) - float(x["base"])) * sign > 0] for sign in (-1, 1))
        parts = []
        for title, moved in zip(titles, (lost, won)):
            markup, used = _direction(title, moved, min(limit, budget))
            parts.append(markup)
            budget -= used
        out.append(
            f'<details id="flips-{esc(t.task)}"{opened}><summary>{esc(t.task)} {mark(t)} '
            f'<span class="muted">{len(lost)} {words[0]}, {len(won)} {words[1]} of {t.n_items}</span></summary>'
            + ("".join(parts) or '<p class="muted">No item changed.</p>')
            + "</details>"
        )  # fmt: skip
    return "".join(out)
