"""Deciding a saved run against a policy, with the outputs a CI system reads: the verdict, a JUnit
file (`junit`), and a Markdown summary appended to `$GITHUB_STEP_SUMMARY` when that is set."""

from __future__ import annotations

import os
from pathlib import Path

from forgetbench.core.errors import UserInputError
from forgetbench.core.fs import check_output_path, write_output
from forgetbench.core.results import GateVerdict
from forgetbench.gate.decide import decide, load_inputs
from forgetbench.gate.outputs import junit_xml, markdown
from forgetbench.gate.policy import GatePolicy, load_policy


def gate_run(
    run: Path,
    policy: Path | GatePolicy,
    *,
    policy_path: Path | None = None,
    junit: Path | None = None,
    github_summary: Path | None = None,
) -> GateVerdict:
    """Decide `run` (a run folder) by `policy` (a TOML path, or a parsed policy with its `policy_path`);
    write the JUnit file and the GitHub summary (default: `$GITHUB_STEP_SUMMARY`) when asked."""
    if not isinstance(policy, GatePolicy):
        policy_path, policy = Path(policy), load_policy(Path(policy))
    summary = github_summary or (Path(os.environ["GITHUB_STEP_SUMMARY"]) if os.environ.get("GITHUB_STEP_SUMMARY") else None)
    check_outputs(junit, summary)
    verdict = decide(load_inputs(run, policy.predictors), policy, policy_path)
    if junit is not None:
        write_output(Path(junit), junit_xml(verdict), "--junit")
    if summary is not None:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(markdown(verdict))
        except OSError as exc:
            raise UserInputError(f"GITHUB_STEP_SUMMARY {summary}: cannot append ({exc.strerror or exc})") from None
    return verdict


def resolve_policy(gate: Path | GatePolicy | None, policy_path: Path | None) -> tuple[GatePolicy | None, Path | None]:
    """A job's `--gate`: a policy file (loaded now: a bad policy stops the job before any work) or a
    parsed policy with its path."""
    if gate is None or isinstance(gate, GatePolicy):
        return gate, policy_path
    return load_policy(Path(gate)), Path(gate)


def check_outputs(junit: Path | None, summary: Path | None = None) -> None:
    """The gate's output files can be written (checked before any compute)."""
    if junit is not None:
        check_output_path(Path(junit), "--junit")
    if summary is not None:
        check_output_path(Path(summary), "GITHUB_STEP_SUMMARY")
