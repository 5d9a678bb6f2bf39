"""The predictor panel of report.html and report.md: every predictor a run measured (name, inputs, value [CI],
unit, what), drawn by the pipeline's page code from the run folder, its text escaped; absent from a run that
measured only its headline KL (every run written before the predictors table)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from forgetbench.core.predictors import BY_NAME
from forgetbench.core.results import PredictorValue
from forgetbench.pipeline.run_folder import page_of
from forgetbench.report.markdown import markdown
from forgetbench.runs import RunFolder, load_report
from tests.gate.test_predictor_rules import kl_folder
from tests.report.test_html import OURS, parse

BEFORE = Path(__file__).parents[1] / "runs" / "written_before"
SCRIPT = "<script>alert(1)</script>"


def test_a_run_with_predictors_shows_the_panel(tmp_path):
    run = kl_folder(tmp_path / "run", old=True, weights={"weight_frobenius": 0.0123})
    folder = RunFolder(run)
    kl = folder.kl_result()
    page = page_of(folder)
    assert "<h3>Predictors of forgetting</h3>" in page and parse(page).tags <= OURS
    tv = kl.predictor("tv_new")
    assert f'<td>tv_new</td><td>new</td><td class="num">{tv.value:.4g} [{tv.ci_low:.4g}, {tv.ci_high:.4g}]</td>' in page
    assert "0.0123 no sampling error" in page and "60 prompts drawn from the prior suite" in page
    assert page.count("<tr>") - page.split("<h3>Predictors of forgetting</h3>")[0].count("<tr>") >= len(kl.predictors)
    assert "total variation ½Σ|p − q| per token" in page  # the catalog's `what`


def test_the_panel_escapes_what_it_shows(tmp_path):
    run = kl_folder(tmp_path / "run")
    folder = RunFolder(run)
    kl = folder.kl_result()
    kl = replace(kl, predictor_notes=(f"act_new: {SCRIPT}",))
    from forgetbench.report.html import render_kl

    page = render_kl(kl, folder.kl_rows().to_dict("records"))
    assert SCRIPT not in page and "act_new: &lt;script&gt;alert(1)&lt;/script&gt;" in page and parse(page).tags <= OURS


def test_a_run_with_only_its_headline_kl_has_no_panel():
    for kind in ("kl", "score"):
        assert "Predictors of forgetting" not in page_of(RunFolder(BEFORE / kind))
    assert "Predictors of forgetting" not in markdown(load_report(BEFORE / "score"))


def test_report_md_shows_the_panel():
    report = load_report(BEFORE / "score")
    kl = report.kl
    p = BY_NAME["weight_spectral"]
    extra = PredictorValue("weight_spectral", "weights", 1.5, math.nan, math.nan, p.unit)
    text = markdown(replace(report, kl=replace(kl, predictors=(*kl.predictors, extra), predictor_notes=("js_old: a|b",))))
    head = kl.predictors[0]
    assert "**Predictors of forgetting**:" in text and "| predictor | inputs | value [95% CI] | unit | what |" in text
    assert f"| kl_forward_new | new | {head.value:.4g} [{head.ci_low:.4g}, {head.ci_high:.4g}] | nats/sequence |" in text
    assert (
        "| weight_spectral | weights | 1.5 no sampling error | weight units | the largest σ₁(ΔW) of any weight matrix |" in text
    )
    assert "- not measured: js_old: a\\|b" in text
