"""The predictors of forgetting a run measured, as report.html and report.md show them (`core.predictors`
names and describes each)."""

from __future__ import annotations

import math

from forgetbench.core.predictors import BY_NAME
from forgetbench.core.results import KLResult, PredictorValue

HEADLINE_PREDICTORS = ("kl_forward_new", "kl_reverse_new")
"""The predictors a run's headline KL is (a run of version ≤ 6 reports only that one)."""


def extra_predictors(kl: KLResult) -> bool:
    """Whether the run measured a predictor beyond its headline KL (the panel is drawn only then)."""
    return any(p.name not in HEADLINE_PREDICTORS for p in kl.predictors)


def predictor_cells(p: PredictorValue) -> tuple[str, str, str, str, str]:
    """(name, inputs, value with its 95% CI, unit, what) as plain text: a weight distance has no CI."""
    ci = "no sampling error" if math.isnan(p.ci_low) else f"[{p.ci_low:.4g}, {p.ci_high:.4g}]"
    what = BY_NAME[p.name].what if p.name in BY_NAME else ""
    return p.name, p.inputs, f"{p.value:.4g} {ci}", p.unit, what
