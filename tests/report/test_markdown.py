"""report.md: the precision floor's row beside the noise floor's, and the sentence when the KL is within it."""

from __future__ import annotations

from dataclasses import replace

from forgetbench.core.results import Estimate
from forgetbench.report.markdown import markdown
from forgetbench.runs import load_report


def test_a_precision_floor_is_a_row_beside_the_noise_floor(score_runs):
    report = load_report(score_runs["barely"])
    assert report.kl.precision_floor is None and "precision" not in markdown(report)  # float32: none
    floor = Estimate("full", 0.142, 0.124, 0.169, 0.0024)
    low = replace(report, kl=replace(report.kl, dtype="bfloat16", precision_floor=floor, precision_resolvable=False))
    text = markdown(low)
    assert "| precision floor (full, bfloat16 vs float32) | 1.42e-01 | [1.2e-01, 1.7e-01] | 2.4e-03 |" in text
    assert "The KL is **not resolvable at this precision** (bfloat16)" in text
    resolved = markdown(replace(low, kl=replace(low.kl, precision_resolvable=True)))
    assert "| precision floor (full" in resolved and "not resolvable" not in resolved


# Untrusted text (task and model names, paths, warnings) is literal in report.md: no raw HTML, no extra cell.

import re  # noqa: E402

MARKUP = '<img src=x onerror="alert(1)">|**b**\x1b'


def _cells(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markup_in_names_stays_text_in_report_md(score_runs):
    report = load_report(score_runs["damaged"])
    task = replace(report.retention.tasks[0], task=MARKUP, metric=MARKUP)
    hostile = replace(
        report,
        ckpt=replace(report.ckpt, spec=MARKUP),
        suite=MARKUP,
        warnings=(MARKUP,),
        verdict=MARKUP,
        retention=replace(report.retention, tasks=(task, *report.retention.tasks[1:])),
    )
    text = markdown(hostile)
    assert "<img" not in text and "\x1b" not in text and "**b**" not in text
    assert text.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;\\|\\*\\*b\\*\\*␛") >= 5
    header = next(line for line in text.splitlines() if line.startswith("| task |"))
    row = next(line for line in text.splitlines() if line.startswith("| &lt;img"))
    assert _cells(row) == _cells(header)  # the name's pipe opened no column
