"""Control and bidi characters in untrusted text (names, prompts, a model's tokens) are shown visibly on the
page — never raw NUL/ESC/RLO — and per-token KL pieces stay one span per token."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from forgetbench.report.html import RunView, render
from forgetbench.report.page import esc
from forgetbench.runs import load_report

HOSTILE = "m<b>x</b>\x00\x1b[31m\u202egpj.exe\u2066"
RAW = ("\x00", "\x1b", "\u202e", "\u2066")


def test_esc_shows_controls_and_names_bidi():
    assert esc(HOSTILE) == "m&lt;b&gt;x&lt;/b&gt;␀␛[31m&lt;U+202E&gt;gpj.exe&lt;U+2066&gt;"
    assert esc("line\n\tindent") == "line\n\tindent"


def test_no_raw_control_reaches_the_page(score_runs):
    run = score_runs["damaged"]
    report = load_report(run)
    model = dataclasses.replace(report.ckpt, spec=HOSTILE)
    report = dataclasses.replace(report, ckpt=model, suite=HOSTILE, warnings=(HOSTILE,), verdict=HOSTILE)
    items = pd.read_parquet(run / "items.parquet").to_dict("records")
    kl = pd.read_parquet(run / "kl.parquet").to_dict("records")
    tokens = {"tokens": np.array(["a", "\x1b", "\u202e", "b"]), "token_kl": np.array([0.1, 0.2, 0.3, 0.4])}
    kl[0] = {**kl[0], **tokens, "prompt": HOSTILE, report.kl.headline: 1e3}  # the top prompt: its tokens are drawn
    page = render(RunView(report, items, kl))
    assert not any(ch in page for ch in RAW) and "<b>x</b>" not in page
    assert page.count("␀␛[31m&lt;U+202E&gt;gpj.exe&lt;U+2066&gt;") >= 3  # title, heading, warning, verdict
    for piece in ("a", "␛", "&lt;U+202E&gt;", "b"):  # still one span per token
        assert f'nats">{piece}</span>' in page, piece
