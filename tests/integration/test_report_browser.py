"""report.html in a real browser: Debian's chromium, headless, driven by Playwright (`executable_path`; no
browser download). A real run of the embedded SmolLM2-135M against a real LoRA checkpoint of it on
CommonsenseQA (the demo's task that forgets; 30 lite items), then the page: it loads with no console
error and no request beyond the file itself, the forgotten items are in the DOM, a generation carrying
`<script>` shows as text and runs nothing, and a phone-wide viewport needs no sideways scrolling.

Where chromium is missing the tests skip and say so (CI installs it: `.ci/run`)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from forgetbench.core.results import ItemEvidence
from forgetbench.core.rows import pair_row
from forgetbench.runs import load_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no chromium on this machine (Debian: apt-get install -y chromium; CI installs it)"
    ),
]
TASK = "fb_commonsenseqa_lite"
SCRIPT = "<script>alert(1)</script>"
PROMPTS = ("A pencil costs 3 dollars. How much do 4 pencils cost?", "Tom has 12 apples and eats 5. How many are left?",
           "What is 15 plus 27?", "A class has 28 pupils in 4 equal rows. How many are in each row?")  # fmt: skip
# How .ci/run's machine (root, no network) must start chromium: no sandbox as root, nothing in the background.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """`forgetbench score smollm2-135m <LoRA checkpoint-8>` on a one-task suite (the first 30 of CommonsenseQA lite: 4 forgotten, 1 gained)
    with a lean KL (4 prompts of a prompts file × 16 tokens: no new-task scoring): the run folder."""
    from forgetbench.core.progress import Reporter
    from forgetbench.pipeline.demo import ensure_lora_run
    from forgetbench.prior.suites import tasks_dir

    ckpt = ensure_lora_run(Reporter()) / "checkpoint-8"
    root = tmp_path_factory.mktemp("browser")
    shutil.copytree(tasks_dir() / "offline", root / "tasks" / "offline")
    (root / "tasks" / "offline" / "_suite_csqa.yaml").write_text(
        f"group: csqa\ntask: [{TASK}]\nmetadata: {{forgetbench_suite: true, description: one task, primary_metric: {{{TASK}: acc}}}}\n"
    )
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    args = ["score", "smollm2-135m", str(ckpt), "--new-task", str(prompts), "--suite", "csqa", "--n-prompts", "4",
            "--max-new-tokens", "16", "--noise-floor-prompts", "0", "--limit", "30", "--store", str(root / "store"), "--out", str(root / "run")]  # fmt: skip
    env = {**__import__("os").environ, "FORGETBENCH_TASKS_DIR": str(root / "tasks")}
    proc = subprocess.run([sys.executable, "-m", "forgetbench.cli", *args], capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "run"


@dataclasses.dataclass
class Loaded:
    console: list[str]
    requests: list[str]
    dialogs: list[str]
    page: Any


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def load(browser) -> Iterator[Any]:
    """Open a file in a fresh page, recording console messages (errors and warnings), requests and dialogs."""
    contexts = []

    def open_(path: Path, width: int = 1280) -> Loaded:
        context = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(context)
        page = context.new_page()
        seen = Loaded([], [], [], page)
        page.on("console", lambda m: seen.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: seen.console.append(f"pageerror: {e}"))
        page.on("request", lambda r: seen.requests.append(r.url))
        page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(200)  # anything late (a deferred fetch, a timer) would show by now
        return seen

    yield open_
    for c in contexts:
        c.close()


def test_the_report_loads_offline_and_shows_the_forgotten_items(run, load):
    report = load_report(run)
    (task,) = report.retention.tasks
    assert task.task == TASK and task.forgotten and task.forgotten > 0  # the checkpoint forgot: not vacuous
    seen = load(run / "report.html")
    assert seen.console == [] and seen.dialogs == []
    assert seen.requests == [(run / "report.html").resolve().as_uri()]  # the file itself, nothing else
    items = pd.read_parquet(run / "items.parquet")
    lost = items[items.base > items.ckpt]
    assert len(lost) == task.forgotten
    flips = seen.page.locator(f"#flips-{TASK}")
    assert flips.evaluate("e => e.open")  # a one-task suite shows its flips open
    text = flips.inner_text()
    assert f"Forgotten (base right, checkpoint wrong) ({task.forgotten})" in text
    for row in lost.to_dict("records"):  # up to 21 per direction for one task: all of them
        assert f"doc {row['doc_id']}" in text
        assert str(row["choices"][int(row["gold"])]).strip() in text  # the gold option, marked
    kl = seen.page.locator("svg[aria-label^='histogram']")
    assert kl.count() == 1 and seen.page.locator(".tokens span").count() > 0  # per-prompt KL and coloured tokens
    assert seen.page.evaluate("document.querySelectorAll('script').length") == 0


def test_a_generation_carrying_a_script_shows_as_text(run, load, tmp_path):
    from forgetbench.report.html import RunView, render

    rows = pd.read_parquet(run / "items.parquet").to_dict("records")
    kl = pd.read_parquet(run / "kl.parquet").to_dict("records")
    hostile = ItemEvidence(f"Say {SCRIPT}", (), "42", None, (), None, f"Sure: {SCRIPT}<img src=x onerror=alert(2)>", None)
    lost = next(i for i, r in enumerate(rows) if r["base"] > r["ckpt"])
    rows[lost] = {**rows[lost], **pair_row(hostile, dataclasses.replace(hostile, generation=SCRIPT))}
    kl[0] = {**kl[0], "tokens": ["<script>", "alert(1)", "</script>"], "token_kl": [0.1, 1.0, 10.0]}
    page = tmp_path / "report.html"
    page.write_text(render(RunView(load_report(run), rows, kl)), encoding="utf-8")
    seen = load(page)
    assert seen.dialogs == [] and seen.console == [] and seen.requests == [page.resolve().as_uri()]
    assert seen.page.evaluate("document.querySelectorAll('script, img').length") == 0
    body = seen.page.locator("body").inner_text()
    assert f"Sure: {SCRIPT}<img src=x onerror=alert(2)>" in body and "<script>alert(1)</script>" in body


def test_a_phone_reads_the_page_without_sideways_scrolling(run, load):
    seen = load(run / "report.html", width=390)
    assert seen.console == []
    width = seen.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"
