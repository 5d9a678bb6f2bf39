"""report.html of a `score` or `compare` run folder: the verdict and both models, the retention table, the
flipped items with what each model answered, and where the two models' distributions diverge (the
per-prompt KL histogram and the highest-KL responses coloured token by token).

Reads only what the run folder holds (`RunView`: the report, items.parquet's and kl.parquet's rows, the
gate's verdict when the run had one). Every text is escaped (`page.esc`); the page runs no script and
fetches nothing (`page.CSP`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from forgetbench.core.results import GateVerdict, KLResult, ModelInfo, ScoreReport
from forgetbench.report import svg
from forgetbench.report.flips_html import flips_section, mark
from forgetbench.report.kl_html import kl_section
from forgetbench.report.page import esc, num, page, table
from forgetbench.report.verdict import significant


@dataclass(frozen=True)
class RunView:
    """What a run folder's page is drawn from."""

    report: ScoreReport
    items: list[dict[str, Any]]
    """items.parquet's rows."""
    kl_rows: list[dict[str, Any]] = field(default_factory=list)
    """kl.parquet's rows (empty without a KL)."""
    gate: GateVerdict | None = None


def _models(base: ModelInfo, ckpt: ModelInfo) -> str:
    rows = []
    for role, m in (("base", base), ("checkpoint", ckpt)):
        adapter = "" if m.adapter is None else f" · {esc(m.adapter.peft_type)} adapter, rank {m.adapter.rank}"
        rows.append(
            [
                role,
                f"<code>{esc(m.spec)}</code>",
                esc(m.kind) + adapter,
                f'<code title="{esc(m.fingerprint)}">{esc(m.fingerprint[:12])}</code>',
            ]
        )
    return table(["model", "spec", "kind", "fingerprint"], rows)


def _setting_line(r: ScoreReport) -> str:
    s = r.settings
    parts = [
        f"suite <b>{esc(r.suite)}</b> (<code>{esc(r.suite_hash[:12])}</code>)",
        f"new task <b>{esc(r.new_task or '–')}</b>",
        f"{esc(s.backend)} · {esc(s.dtype)} · {esc(s.device)}",
        f"limit {esc(s.limit)}" if s.limit is not None else "no limit",
        f"few-shot {esc(s.num_fewshot)}" if s.num_fewshot is not None else "task's own few-shot",
        "chat template" if s.chat_template else "no chat template",
        f"seed {r.seed}",
        f"lm-eval {esc(s.lm_eval_version)}",
        esc(r.created),
    ]
    if r.base_logs is not None and r.ckpt_logs is not None:
        parts.append(
            f"items from lm-eval logs: <code>{esc(r.base_logs.results_file)}</code>, <code>{esc(r.ckpt_logs.results_file)}</code>"
        )
    return '<p class="muted">' + " · ".join(parts) + "</p>"


def _gate(v: GateVerdict | None) -> str:
    if v is None:
        return ""
    rows = [[esc(x.rule), f'<span class="badge {esc(x.status)}">{esc(x.status)}</span>', esc(x.reason)] for x in v.rules]
    return (f'<h2>Gate <span class="badge {esc(v.status)}">{esc(v.status)}</span></h2>'
            f'<p class="muted">policy <code>{esc(v.policy)}</code> · α {v.alpha:g} · {esc(v.correction)} · '
            f"inconclusive counts as {esc(v.on_inconclusive)}</p>" + table(["rule", "status", "why"], rows))  # fmt: skip


def _retention(r: ScoreReport) -> str:
    ret = r.retention
    span = max([5.0] + [max(abs(t.delta_low), abs(t.delta_high)) for t in ret.tasks if math.isfinite(t.delta_low)])
    rows = []
    for t in ret.tasks:
        cls = ("drop" if t.delta < 0 else "gain") if significant(t) else ""
        rows.append([
            f'<a href="#flips-{esc(t.task)}">{esc(t.task)}</a>', esc(t.metric), str(t.n_items), f"{t.base:.1f}", f"{t.ckpt:.1f}",
            f'<span class="{cls}">{t.delta:+.1f}</span> {mark(t)}', f"[{t.delta_low:+.1f}, {t.delta_high:+.1f}]",
            svg.interval_bar(t.delta, t.delta_low, t.delta_high, span, significant(t)),
            num(t.forgotten, "d"), num(t.gained, "d"), num(t.p_value, ".3g"), num(t.p_adjusted, ".3g"),
        ])  # fmt: skip
    head = ["task", "metric", "items", "base", "ckpt", "Δ points", "95% CI", "", "forgotten", "gained", "p", "Holm p"]
    return (
        "<h2>Retention</h2>"
        + table(head, rows, numeric=(2, 3, 4, 5, 6, 8, 9, 10, 11))
        + '<p class="muted">Δ = checkpoint − base in points; ▼/▲ significant at 5% after Holm across the suite\'s tasks '
        "(exact McNemar for 0/1 metrics, paired t for graded ones); CI: Tango's score interval (0/1) or the paired t.</p>"
        + f"<p><b>Forgetting</b> F = {ret.forgetting:.2f} points [{ret.forgetting_low:.2f}, {ret.forgetting_high:.2f}] "
        f"(size-weighted {ret.forgetting_weighted:.2f}; retention ratio {ret.retention_ratio:.3f}; {ret.n_items} paired items).</p>"
    )


def _tail(r: ScoreReport) -> str:
    out = []
    if (n := r.new_task_score) is not None:
        out.append(f"<p><b>New task</b> {esc(n.task)} ({esc(n.metric)}, {n.n_items} items): base {n.base:.1f}, checkpoint "
                   f"{n.ckpt:.1f}, gain {n.gain:+.1f} [{n.gain_low:+.1f}, {n.gain_high:+.1f}].</p>")  # fmt: skip
    if (law := r.law) is not None:
        out.append(f"<p><b>Law</b> ({esc(law.kind)}, {esc(law.source)}, {law.n} checkpoints, LOO R² {law.loo_r2:.2f}): predicted "
                   f"F = {law.predicted_forgetting:.2f} points at this KL; measured {r.retention.forgetting:.2f}.</p>")  # fmt: skip
    return "".join(out)


def _footer(r: ScoreReport) -> str:
    versions = " · ".join(f"{esc(k)} {esc(v)}" for k, v in sorted(r.versions.items()))
    files = " · ".join(f"{esc(k)} <code>{esc(v[:12])}</code>" for k, v in sorted(r.files.items()))
    return (f"forgetbench {esc(r.forgetbench_version)}{' · git ' + esc(r.git_commit[:10]) if r.git_commit else ''} · "
            f"source {esc(r.source)} · {versions}<br>files: {files} · report digest <code>{esc(r.digest[:12])}</code> · "
            f"elapsed {r.elapsed_s:.0f} s")  # fmt: skip


def _kl(kl: KLResult | None, rows: list[dict[str, Any]]) -> str:
    if kl is None:
        return "<h2>KL</h2><p class='muted'>Not measured: a comparison of lm-eval logs (<code>--kl</code> joins a <code>forgetbench kl</code> run of the pair).</p>"
    return kl_section(kl, rows)


def render(view: RunView) -> str:
    """The whole page."""
    r = view.report
    warnings = "".join(f'<div class="warn">{esc(w)}</div>' for w in r.warnings)
    body = (
        f"<h1>{esc(r.ckpt.spec)} <span class='muted'>vs</span> {esc(r.base.spec)}</h1>"
        f'<div class="verdict">{esc(r.verdict)}</div>{warnings}'
        + _models(r.base, r.ckpt)
        + _setting_line(r)
        + _gate(view.gate)
        + _retention(r)
        + _tail(r)
        + flips_section(r, view.items)
        + _kl(r.kl, view.kl_rows)
    )
    return page(f"forgetbench: {r.ckpt.spec} vs {r.base.spec}", body, _footer(r))


def render_kl(kl: KLResult, rows: list[dict[str, Any]], gate: GateVerdict | None = None) -> str:
    """The page of a KL-only run (`forgetbench kl`, `score --gate` with a KL-only policy): the models, the
    gate's verdict, the KL section; no benchmark was run."""
    head = kl.headline_estimate
    body = (
        f"<h1>{esc(kl.ckpt.spec)} <span class='muted'>vs</span> {esc(kl.base.spec)}</h1>"
        f'<div class="verdict">{esc(kl.direction)} KL {head.mean:.3g} nats/sequence [{head.ci_low:.3g}, {head.ci_high:.3g}] '
        f"on {kl.n_prompts} prompts; a KL-only run: no prior-capability benchmark was run.</div>"
        + _models(kl.base, kl.ckpt)
        + _gate(gate)
        + kl_section(kl, rows)
    )
    footer = f"forgetbench {esc(kl.forgetbench_version)} · seed {kl.seed} · elapsed {kl.elapsed_s:.0f} s · digest <code>{esc(kl.digest[:12])}</code>"
    return page(f"forgetbench: KL of {kl.ckpt.spec} vs {kl.base.spec}", body, footer)
