"""Outputs of a gate verdict for CI systems: JUnit XML (one test case per rule) and Markdown (the
GitHub Actions step summary). Both read a `GateVerdict` and compute nothing."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from forgetbench.core.results import GateVerdict, RuleVerdict


def _value(r: RuleVerdict) -> str:
    return f"{r.estimate:.2f} (limit {r.margin:g}, bound {r.bound:.2f}, p {r.p_adjusted:.3g})"


def junit_xml(v: GateVerdict) -> bytes:
    """A JUnit report: suite `forgetbench gate`, one test case per rule, a <failure> per failed rule."""
    failures = sum(not r.passed for r in v.rules)
    suites = ET.Element("testsuites", name="forgetbench", tests=str(len(v.rules)), failures=str(failures))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"forgetbench gate: {v.ckpt} vs {v.base}",
        tests=str(len(v.rules)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    props = ET.SubElement(suite, "properties")
    for key in ("run", "policy", "policy_hash", "mode", "alpha", "correction"):
        ET.SubElement(props, "property", name=key, value=str(getattr(v, key)))
    for r in v.rules:
        case = ET.SubElement(suite, "testcase", classname="forgetbench.gate", name=r.rule)
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=r.reason, type="GateRuleFailed")
            failure.text = f"{r.rule}: {_value(r)}\n{r.reason}"
        else:
            ET.SubElement(case, "system-out").text = r.reason
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def markdown(v: GateVerdict) -> str:
    """A Markdown summary: the verdict line and one table row per rule."""
    head = "✅ **forgetbench gate passed**" if v.passed else "❌ **forgetbench gate failed**"
    lines = [
        f"{head}: `{v.ckpt}` vs `{v.base}` ({v.mode}, α = {v.alpha:g}, {v.correction} across tasks; policy `{v.policy}`)",
        "",
        "| rule | result | value | limit | bound | p (adj.) | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in v.rules:
        lines.append(
            f"| {r.rule} | {'pass' if r.passed else '**FAIL**'} | {r.estimate:.2f} | {r.margin:g} | {r.bound:.2f} | "
            f"{r.p_adjusted:.3g} | {r.reason} |"
        )
    return "\n".join(lines) + "\n\n"
