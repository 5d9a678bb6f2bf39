"""report.md: the human table of a score report (per-task retention, forgetting, KL, new task, law). Every text
from outside (model specs, task and metric names, paths, the verdict and warnings that quote them) is escaped
with `core.text.md_text`: it shows as written and is never interpreted as HTML or Markdown."""

from __future__ import annotations

from forgetbench.core.results import KLResult, ScoreReport
from forgetbench.core.text import md_text
from forgetbench.report.predictors import extra_predictors, predictor_cells
from forgetbench.report.verdict import significant


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "–" if x is None else format(x, spec)


def _kl_section(kl: KLResult | None) -> list[str]:
    """The KL table: every estimator, the noise floors, the precision floor."""
    if kl is None:
        return ["**KL**: not measured (a comparison of lm-eval logs; `--kl` joins a `forgetbench kl` run of the pair)."]
    lines = [
        f"**KL** ({kl.direction}) on {kl.n_prompts} prompts × {kl.samples_per_prompt}, mean response {kl.mean_response_tokens:.1f} tokens:",
        "",
        "| estimator | nats/sequence | 95% CI | nats/token |",
        "|---|---|---|---|",
    ]
    for e in kl.estimates:
        lines.append(
            f"| {md_text(e.name)}{' (headline)' if e.name == kl.headline else ''} | {e.mean:.4f} | [{e.ci_low:.4f}, {e.ci_high:.4f}] | {e.per_token:.5f} |"
        )
    for n in (kl.noise_floor, kl.noise_floor_k1):
        if n is not None:
            lines.append(f"| noise floor ({md_text(n.name)}) | {n.mean:.2e} | [{n.ci_low:.1e}, {n.ci_high:.1e}] | |")
    if (f := kl.precision_floor) is not None:
        lines.append(
            f"| precision floor ({md_text(f.name)}, {md_text(kl.dtype)} vs float32) | {f.mean:.2e} | [{f.ci_low:.1e}, {f.ci_high:.1e}] | "
            f"{f.per_token:.1e} |"
        )
        if kl.precision_resolvable is False:
            lines += [
                "",
                f"The KL is **not resolvable at this precision** ({md_text(kl.dtype)}): its mean is within the precision floor.",
            ]
    return lines + _predictors(kl)


def _predictors(kl: KLResult) -> list[str]:
    """The predictor panel (every predictor of forgetting measured), only when there is more than the headline KL."""
    if not extra_predictors(kl):
        return []
    old = f" (prior-suite inputs: {kl.old_task_prompts} prompts drawn from the suite's items)" if kl.old_task_prompts else ""
    lines = [
        "",
        f"**Predictors of forgetting**{old}:",
        "",
        "| predictor | inputs | value [95% CI] | unit | what |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(md_text(c) for c in predictor_cells(p)) + " |" for p in kl.predictors]
    return lines + [f"- not measured: {md_text(n)}" for n in kl.predictor_notes]


def _sources(r: ScoreReport) -> list[str]:
    """Where a `compare` read its items (nothing for `score`)."""
    if r.base_logs is None or r.ckpt_logs is None:
        return []
    return [
        f"Items from lm-eval logs: base {md_text(r.base_logs.results_file)}, checkpoint {md_text(r.ckpt_logs.results_file)}.",
        "",
    ]


def markdown(r: ScoreReport) -> str:
    """report.md: the human table."""
    kl = r.kl
    lines = [
        f"# forgetbench: {md_text(r.ckpt.spec)} vs {md_text(r.base.spec)}",
        "",
        md_text(r.verdict),
        "",
        *[f"> **Warning:** {md_text(w)}\n" for w in r.warnings],
        f"Suite {md_text(r.suite)} (hash `{md_text(r.suite_hash[:12])}`), new task {md_text(r.new_task or '–')}, "
        f"{md_text(r.settings.backend)}/{md_text(r.settings.dtype)}, seed {r.seed}, {md_text(r.created)}.",
        "",
        *_sources(r),
        "| task | metric | items | base | ckpt | Δ (points) | 95% CI | forgotten | gained | p | Holm p |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in r.retention.tasks:
        lines.append(
            f"| {md_text(t.task)} | {md_text(t.metric)} | {t.n_items} | {t.base:.1f} | {t.ckpt:.1f} | {t.delta:+.1f} | "
            f"[{t.delta_low:+.1f}, {t.delta_high:+.1f}] | {_fmt(t.forgotten, 'd')} | {_fmt(t.gained, 'd')} | {_fmt(t.p_value, '.3g')} | "
            f"{_fmt(t.p_adjusted, '.3g')}{' **(significant)**' if significant(t) else ''} |"
        )
    ret = r.retention
    lines += [
        "",
        f"**Forgetting** F = {ret.forgetting:.2f} points [{ret.forgetting_low:.2f}, {ret.forgetting_high:.2f}] "
        f"(size-weighted {ret.forgetting_weighted:.2f}; retention ratio {ret.retention_ratio:.3f}; {ret.n_items} paired items).",
        "",
        *_kl_section(kl),
    ]
    new = r.new_task_score
    if new is not None:
        lines += [
            "",
            f"**New task** {md_text(new.task)} ({md_text(new.metric)}, {new.n_items} items): base {new.base:.1f}, ckpt {new.ckpt:.1f}, "
            f"gain {new.gain:+.1f} [{new.gain_low:+.1f}, {new.gain_high:+.1f}].",
        ]
    if r.law is not None:
        lines += [
            "",
            f"**Law** ({md_text(r.law.kind)}, {md_text(r.law.source)}, {r.law.n} checkpoints, LOO R² {r.law.loo_r2:.2f}): predicted F = "
            f"{r.law.predicted_forgetting:.2f} points at this KL; measured {r.retention.forgetting:.2f}.",
        ]
    lines += [
        "",
        f"Fingerprints: base `{md_text(r.base.fingerprint[:12])}`, ckpt `{md_text(r.ckpt.fingerprint[:12])}`. Elapsed {r.elapsed_s:.0f} s.",
        "",
    ]
    return "\n".join(lines)
