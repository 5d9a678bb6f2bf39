"""Markdown and HTML tables of a leaderboard, sorted by a chosen column (every cell escaped: `core.text.md_text`
in the Markdown, HTML-escaped with control characters shown `visible` in the page)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from forgetbench.core.errors import UserInputError
from forgetbench.core.text import md_text, visible

RENDER_COLUMNS = (
    "label",
    "ckpt",
    "new_task_gain",
    "forgetting",
    "forgetting_low",
    "forgetting_high",
    "retention_ratio",
    "kl",
    "kl_low",
    "kl_high",
    "kl_per_token",
    "backend",
    "date",
)


def _sorted(frame: Any, by: str, descending: bool):
    if by not in frame.columns:
        raise UserInputError(f"no column {by!r} to sort by (columns: {', '.join(RENDER_COLUMNS)}, ...)")
    return frame.sort_values(by, ascending=not descending, kind="stable", na_position="last")


def _cell(v) -> str:
    if isinstance(v, float):
        return "–" if not np.isfinite(v) else f"{round(v, 2) + 0.0:.2f}"  # a float-noise zero prints 0.00, not -0.00
    return str(v)


def _h(text: str) -> str:
    return html.escape(visible(text), quote=True)


def render(frame: Any, by: str, descending: bool, title: str) -> tuple[str, str]:
    """(Markdown, HTML) tables of the main columns, sorted by `by`."""
    rows = _sorted(frame, by, descending)
    cols = list(RENDER_COLUMNS)
    md = [
        f"# {md_text(title)}",
        "",
        f"Sorted by {md_text(by)} ({'descending' if descending else 'ascending'}); {len(rows)} rows.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    body = []
    for _, r in rows.iterrows():
        cells = [_cell(r[c]) for c in cols]
        md.append("| " + " | ".join(md_text(c) for c in cells) + " |")
        body.append("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{_h(c)}</th>" for c in cols)
    page = (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{_h(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}</style></head><body>"
        f"<h1>{_h(title)}</h1><p>Sorted by {_h(by)}; {len(rows)} rows.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n"
    )
    return "\n".join(md) + "\n", page
