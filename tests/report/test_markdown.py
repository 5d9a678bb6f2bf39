"""report.md: the precision floor's row beside the noise floor's, and the sentence when the KL is within it."""

from __future__ import annotations

from dataclasses import replace

from forgetbench.core.results import Estimate
from forgetbench.core.results_io import load_report
from forgetbench.report.markdown import markdown


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
