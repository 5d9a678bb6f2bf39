"""The run directory of `score` (DESIGN.md §5) and the typed loader of report.json."""

from __future__ import annotations

import json
from pathlib import Path

from forgetbench.errors import DataError
from forgetbench.schema import SCHEMA_VERSION, ScoreReport, from_dict
from forgetbench.store import atomic_write_bytes


def load_report(path: Path) -> ScoreReport:
    """Read a report.json (or the run folder holding one) back into a ScoreReport."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"no report at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{path} is not valid JSON") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise DataError(f"{path}: not a forgetbench report of schema version {SCHEMA_VERSION}")
    try:
        return from_dict(ScoreReport, data)
    except (KeyError, TypeError) as exc:
        raise DataError(f"{path}: malformed report ({exc})") from None


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "–" if x is None else format(x, spec)


def markdown(r: ScoreReport) -> str:
    """report.md: the human table."""
    kl = r.kl
    lines = [
        f"# forgetbench: {r.ckpt.spec} vs {r.base.spec}",
        "",
        r.verdict,
        "",
        f"Suite `{r.suite}` (hash `{r.suite_hash[:12]}`), new task `{r.new_task}`, "
        f"{r.settings.backend}/{r.settings.dtype}, seed {r.seed}, {r.created}.",
        "",
        "| task | metric | items | base | ckpt | Δ (points) | 95% CI | forgotten | gained | McNemar p |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in r.retention.tasks:
        lines.append(
            f"| {t.task} | {t.metric} | {t.n_items} | {t.base:.1f} | {t.ckpt:.1f} | {t.delta:+.1f} | "
            f"[{t.delta_low:+.1f}, {t.delta_high:+.1f}] | {_fmt(t.forgotten, 'd')} | {_fmt(t.gained, 'd')} | {_fmt(t.p_value, '.3g')} |"
        )
    ret = r.retention
    lines += [
        "",
        f"**Forgetting** F = {ret.forgetting:.2f} points [{ret.forgetting_low:.2f}, {ret.forgetting_high:.2f}] "
        f"(size-weighted {ret.forgetting_weighted:.2f}; retention ratio {ret.retention_ratio:.3f}; {ret.n_items} paired items).",
        "",
        f"**KL** ({kl.direction}) on {kl.n_prompts} prompts × {kl.samples_per_prompt}, mean response {kl.mean_response_tokens:.1f} tokens:",
        "",
        "| estimator | nats/sequence | 95% CI | nats/token |",
        "|---|---|---|---|",
    ]
    for e in kl.estimates:
        lines.append(f"| {e.name} | {e.mean:.4f} | [{e.ci_low:.4f}, {e.ci_high:.4f}] | {e.per_token:.5f} |")
    for n in (kl.noise_floor, kl.noise_floor_k1):
        if n is not None:
            lines.append(f"| noise floor ({n.name}) | {n.mean:.2e} | [{n.ci_low:.1e}, {n.ci_high:.1e}] | |")
    if r.new_task_score is not None:
        n = r.new_task_score
        lines += ["", f"**New task** {n.task} ({n.metric}, {n.n_items} items): base {n.base:.1f}, ckpt {n.ckpt:.1f}, "
                  f"gain {n.gain:+.1f} [{n.gain_low:+.1f}, {n.gain_high:+.1f}]."]
    if r.law is not None:
        lines += ["", f"**Law** ({r.law.source}, {r.law.n} checkpoints, LOO R² {r.law.loo_r2:.2f}): predicted F = "
                  f"{r.law.predicted_forgetting:.2f} points at this KL; measured {r.retention.forgetting:.2f}."]
    lines += ["", f"Fingerprints: base `{r.base.fingerprint[:12]}`, ckpt `{r.ckpt.fingerprint[:12]}`. Elapsed {r.elapsed_s:.0f} s.", ""]
    return "\n".join(lines)


def write_run(run, out: Path) -> None:
    """report.json, report.md, items.parquet, kl.parquet and leaderboard_row.csv in `out`, each atomic."""
    import io

    import pandas as pd

    from forgetbench import leaderboard
    from forgetbench.compare import pair

    out.mkdir(parents=True, exist_ok=True)
    r = run.report
    rows = []
    for tb, tc in zip(run.base_eval.tasks, run.ckpt_eval.tasks):
        b, c = pair(tb, tc)
        for item, sb, sc in zip(sorted(tb.items, key=lambda i: i.doc_id), b, c):
            rows.append({"task": tb.task, "doc_id": item.doc_id, "doc_hash": item.doc_hash, "base": sb, "ckpt": sc})
    atomic_write_bytes(out / "items.parquet", pd.DataFrame(rows).to_parquet(index=False))
    atomic_write_bytes(out / "kl.parquet", pd.DataFrame(run.kl.rows).to_parquet(index=False))
    buf = io.StringIO()
    pd.DataFrame([leaderboard.row(r)]).to_csv(buf, index=False)
    atomic_write_bytes(out / "leaderboard_row.csv", buf.getvalue().encode())
    atomic_write_bytes(out / "report.md", markdown(r).encode())
    atomic_write_bytes(out / "report.json", json.dumps(r.to_dict(), indent=2).encode())
