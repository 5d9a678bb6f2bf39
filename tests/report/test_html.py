"""report.html: drawn from a real run folder (the memorised tiny models' `score` run), every changed item
with both models' answers, untrusted text escaped, the size bounded. The page in a real browser:
tests/integration/test_report_browser.py."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from forgetbench.core.results import ItemEvidence
from forgetbench.core.rows import MAX_EVIDENCE, evidence_of, pair_row
from forgetbench.pipeline.run_folder import kept_for_evidence
from forgetbench.report.flips_html import shown_per_direction
from forgetbench.report.html import RunView, render
from forgetbench.report.kl_html import level
from forgetbench.runs import load_report

SCRIPT = "<script>alert(1)</script>"
OURS = {"html", "head", "meta", "title", "style", "body", "main", "footer", "h1", "h2", "h3", "p", "div", "span", "b", "code",
        "pre", "table", "thead", "tbody", "tr", "th", "td", "details", "summary", "a", "br", "svg", "line", "rect", "circle",
        "text", "polyline", "g"}  # fmt: skip


class Tags(HTMLParser):
    """Every element a page holds, with its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.handlers: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.add(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]

    def handle_data(self, data) -> None:
        self.text.append(data)


def parse(page: str) -> Tags:
    t = Tags()
    t.feed(page)
    return t


def view(run: Path) -> RunView:
    rows = lambda name: pd.read_parquet(run / name).to_dict("records")  # noqa: E731
    return RunView(load_report(run), rows("items.parquet"), rows("kl.parquet"))


def test_the_page_shows_every_changed_item_with_both_models_answers(score_runs):
    run = score_runs["damaged"]
    page = (run / "report.html").read_text()
    assert page == render(view(run))  # the file is what the renderer draws from the folder's files
    report, items = load_report(run), pd.read_parquet(run / "items.parquet")
    text = " ".join(parse(page).text)
    for t in report.retention.tasks:
        lost = items[(items.task == t.task) & (items.base > items.ckpt)]
        assert len(lost) == t.forgotten and t.forgotten > 0
        assert f"{t.forgotten} forgotten, {t.gained} gained of {t.n_items}" in text
        for row in lost.head(shown_per_direction(2)).to_dict("records"):
            base, ckpt = evidence_of(row, "base"), evidence_of(row, "ckpt")
            assert base is not None and ckpt is not None and base.pick == base.gold != ckpt.pick  # right, then wrong
            assert f"doc {row['doc_id']}" in text and base.choices[base.gold] in text
            assert f"{base.loglikelihoods[base.pick]:.3f}" in text and f"{ckpt.loglikelihoods[ckpt.pick]:.3f}" in text
    assert parse(page).tags <= OURS


def test_untrusted_text_is_shown_as_text(score_runs):
    """A generation, a prompt, an option and a sampled token carrying markup: all of it text, no element."""
    v = view(score_runs["damaged"])
    mc = next(r for r in v.items if r["context"] is not None)
    generative = {**mc, **pair_row(
        ItemEvidence(f"Q: {SCRIPT}", (), "<img src=x onerror=alert(2)>", None, (), None, f"sure {SCRIPT}", "<b>42</b>"),
        ItemEvidence(f"Q: {SCRIPT}", (), "<img src=x onerror=alert(2)>", None, (), None, '"><svg onload=alert(3)>', None),
    ), "doc_id": 10_000}  # fmt: skip
    mc = {**mc, "context": SCRIPT, "choices": [SCRIPT, "</td></tr></table><iframe src=//x>"]}
    kl = [{**v.kl_rows[0], "prompt": SCRIPT, "tokens": ["<script>", "alert(1)", "</script>"], "token_kl": [0.5, 2.0, 20.0]}]
    page = render(dataclasses.replace(v, items=[mc, generative, *v.items[1:]], kl_rows=kl))
    assert "<script" not in page and "<iframe" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "sure &lt;script&gt;" in page
    tags = parse(page)
    assert tags.tags <= OURS and not tags.handlers
    text = "".join(tags.text)
    assert SCRIPT in text and "<b>42</b>" in text and '"><svg onload=alert(3)>' in text


def test_evidence_and_page_stay_bounded():
    base = [1.0] * 5000 + [0.0] * 5000
    ckpt = [0.0] * 5000 + [1.0] * 5000
    kept = kept_for_evidence(base, ckpt)
    assert len(kept) == 2 * MAX_EVIDENCE and sum(i < 5000 for i in kept) == MAX_EVIDENCE
    graded = kept_for_evidence([0.5, 0.5, 0.5], [0.4, 0.1, 0.5], limit=1)
    assert graded == {1}  # the largest change first
    assert shown_per_direction(7) == 21 and shown_per_direction(57) == 2 and shown_per_direction(1) == 50
    assert shown_per_direction(1000) == 1  # and the page stops at SHOWN_ITEMS in all


def test_token_colours_step_with_the_kl():
    assert [level(v) for v in (0.0, 0.005, 0.01, 0.5, 2.0, 50.0, float("inf"))] == ["k0", "k0", "k1", "k4", "k5", "k7", "k7"]
    assert [level(v) for v in (-0.001, -0.05, -5.0)] == ["k0", "n1", "n3"]


def test_a_row_without_evidence_reads_as_none():
    assert evidence_of({"task": "t", "doc_id": 0}) is None
    ev = ItemEvidence("ctx", ("a", "b"), "b", 1, (-1.0, -0.5), 1, None, None)
    row = pd.DataFrame([{"task": "t", **pair_row(ev, ev)}]).to_dict("records")[0]  # through pandas, as read back
    assert evidence_of(row, "base") == ev == evidence_of(row, "ckpt")


@pytest.mark.parametrize("steps", [True, False])
def test_the_sweep_page_links_every_checkpoint(steps):
    from forgetbench.report import sweep_html
    from forgetbench.report.trajectory import Point

    nan = float("nan")
    points = [Point(f"checkpoint-{i}", i if steps else None, 1.0 * i, 0.5 * i - 1, 1.5 * i + 1, 0.1 * i, 0.05 * i, 0.2 * i,
                    nan, nan, nan, "No significant forgetting", f"/x/checkpoint-{i}") for i in (2, 4)]  # fmt: skip
    page = sweep_html.render("sweep-<b>", points, ["checkpoint-<6>"])
    assert page.count('href="checkpoint-2/report.html"') == 4 and page.count('href="checkpoint-4/report.html"') == 4
    assert "sweep-&lt;b&gt;" in page and "checkpoint-&lt;6&gt;" in page and parse(page).tags <= OURS


def test_evidence_missing_on_one_side_or_in_an_older_folder_is_said(score_runs):
    from forgetbench.core.rows import ANSWER_COLUMNS, EVIDENCE_COLUMNS

    v = view(score_runs["damaged"])
    i, row = next((i, r) for i, r in enumerate(v.items) if r["context"] is not None)
    ckpt = evidence_of(row, "ckpt")
    assert ckpt is not None
    # A base evaluated before evidence was kept (its store entry has none), a checkpoint evaluated after.
    items = list(v.items)
    items[i] = {**row, **{f"base_{c}": None for c in ANSWER_COLUMNS}}
    assert evidence_of(items[i], "base") is None and evidence_of(items[i], "ckpt") == ckpt
    text = " ".join(parse(render(dataclasses.replace(v, items=items))).text)
    assert f"{ckpt.loglikelihoods[0]:.3f}" in text and "–" in text
    # A run folder from before evidence: the page says so instead of showing nothing.
    old = [{k: x for k, x in r.items() if k not in EVIDENCE_COLUMNS and not k.startswith(("base_", "ckpt_"))} for r in v.items]
    text = " ".join(parse(render(dataclasses.replace(v, items=old, kl_rows=[]))).text)
    assert "No evidence kept for these items" in text
