"""Outputs of a gate verdict for CI systems: JUnit XML (one test case per rule) and Markdown (the
GitHub Actions step summary). Both read a `GateVerdict` and compute nothing; names and reasons are shown
`visible` (no control character makes the XML invalid) and escaped for Markdown (`md_text`)."""

from __future__ import annotations

import math
from xml.etree import ElementTree as ET

from forgetbench.core.results import GateVerdict, RuleVerdict
from forgetbench.core.text import md_text, visible


def _spec(r: RuleVerdict) -> str:
    """Points and nats to two decimals; a predictor rule's value (TV, a weight ratio: often ≪ 1) to 3 digits."""
    return ".3g" if r.rule.startswith("predictor:") else ".2f"


def _num(r: RuleVerdict, x: float) -> str:
    return format(x, _spec(r))


def _value(r: RuleVerdict) -> str:
    needs = "" if r.n_needed is None else f", needs {r.n_needed}"
    return f"{_num(r, r.estimate)} (limit {r.margin:g}, interval [{_num(r, r.low)}, {_num(r, r.high)}], MDE {_mde(r)}{needs})"


def _mde(r: RuleVerdict) -> str:
    """The MDE to one decimal (3 digits for a predictor rule), "–" where none is stated (NaN): no value is
    caught with 80% power, or a weight distance, which has no sampling error."""
    return "–" if math.isnan(r.mde) else f"{r.mde:.3g}" if _spec(r) == ".3g" else f"{r.mde:.1f}"


def junit_xml(v: GateVerdict) -> bytes:
    """A JUnit report: suite `forgetbench gate`, one test case per rule, a <failure> per failed rule
    (and per inconclusive rule under `on_inconclusive = "fail"`), <skipped> for the other inconclusive ones."""
    failures = sum(not r.passed for r in v.rules)
    skipped = sum(r.status == "inconclusive" and r.passed for r in v.rules)
    suites = ET.Element("testsuites", name="forgetbench", tests=str(len(v.rules)), failures=str(failures), skipped=str(skipped))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=visible(f"forgetbench gate: {v.ckpt} vs {v.base}"),
        tests=str(len(v.rules)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
    )
    props = ET.SubElement(suite, "properties")
    for key in ("run", "policy", "policy_hash", "status", "on_inconclusive", "alpha", "correction"):
        ET.SubElement(props, "property", name=key, value=visible(getattr(v, key)))
    for r in v.rules:
        case = ET.SubElement(suite, "testcase", classname="forgetbench.gate", name=visible(r.rule))
        if not r.passed:
            kind = "GateRuleInconclusive" if r.status == "inconclusive" else "GateRuleFailed"
            failure = ET.SubElement(case, "failure", message=visible(r.reason), type=kind)
            failure.text = visible(f"{r.rule}: {_value(r)}\n{r.reason}")
        elif r.status == "inconclusive":
            ET.SubElement(case, "skipped", message=visible(f"inconclusive: {r.reason}"))
        else:
            ET.SubElement(case, "system-out").text = visible(r.reason)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


MARK = {"pass": "pass", "fail": "**FAIL**", "inconclusive": "⚠️ inconclusive"}


def markdown(v: GateVerdict) -> str:
    """A Markdown summary: the verdict line, what was inconclusive, and one table row per rule."""
    head = "✅ **forgetbench gate passed**" if v.passed else "❌ **forgetbench gate failed**"
    undecided = [r.rule for r in v.rules if r.status == "inconclusive"]
    lines = [
        f"{head}: {md_text(v.ckpt)} vs {md_text(v.base)} (α = {v.alpha:g}, {md_text(v.correction)} across the fail tests; "
        f"policy {md_text(v.policy)})",
        "",
    ]
    if undecided:
        lines += [
            f"> [!WARNING]\n> {len(undecided)} rule(s) inconclusive, counted as **{v.on_inconclusive}**: "
            f"{md_text(', '.join(undecided))}. The run is too small to show them within or beyond their limits.",
            "",
        ]
    lines += [
        "| rule | status | value | limit | interval | MDE | needs | reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in v.rules:
        lines.append(
            f"| {md_text(r.rule)} | {MARK[r.status]} | {_num(r, r.estimate)} | {r.margin:g} | [{_num(r, r.low)}, {_num(r, r.high)}] | "
            f"{_mde(r)} | {'' if r.n_needed is None else r.n_needed} | {md_text(r.reason)} |"
        )
    return "\n".join(lines) + "\n\n"
