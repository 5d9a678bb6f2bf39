"""Leaderboard CSVs: one row per (base, checkpoint, suite, new task), upserted atomically.

Columns (documented one by one in leaderboards/SCHEMA.md; `tests/test_leaderboard.py` keeps the two
in step) come in a stable order: the fixed `COLUMNS`, then six per task in suite order. A file holds
one suite: adding a row whose suite hash differs from the file's is refused unless allowed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from forgetbench.core.errors import DataError, UserInputError
from forgetbench.core.fs import check_output_path, file_lock, write_output
from forgetbench.core.predictors import BY_NAME, PREDICTORS
from forgetbench.core.results import ScoreReport, TaskComparison
from forgetbench.runs import load_report

COLUMNS = (
    "run_id",
    "date",
    "label",
    "base",
    "base_fingerprint",
    "ckpt",
    "ckpt_fingerprint",
    "suite",
    "suite_hash",
    "n_tasks",
    "n_items",
    "new_task",
    "new_task_hash",
    "new_task_metric",
    "new_task_base",
    "new_task_ckpt",
    "new_task_gain",
    "new_task_gain_low",
    "new_task_gain_high",
    "forgetting",
    "forgetting_low",
    "forgetting_high",
    "forgetting_weighted",
    "retention_ratio",
    "kl_direction",
    "kl_estimator",
    "kl",
    "kl_low",
    "kl_high",
    "kl_per_token",
    "kl_noise_floor",
    "kl_prompts",
    "kl_samples_per_prompt",
    "kl_max_new_tokens",
    "kl_mean_response_tokens",
    "backend",
    "dtype",
    "seed",
    "forgetbench",
    "lm_eval",
    "transformers",
    "torch",
    "vllm",
)
KL_COLUMNS = COLUMNS[COLUMNS.index("kl_direction") : COLUMNS.index("backend")]
"""Empty in the row of a comparison of lm-eval logs without KL."""
PREDICTOR_COLUMNS = tuple(p.column for p in PREDICTORS if p.column not in COLUMNS)
"""Optional columns, one per predictor of forgetting beyond the forward KL (`core.predictors`): kept through
every upsert when a board has them; a board without them reads as before (`leaderboard predictors` ranks
those present)."""
TASK_COLUMNS = ("base", "ckpt", "delta", "base_adjusted", "ckpt_adjusted", "delta_adjusted")
KEY = ("base_fingerprint", "ckpt_fingerprint", "suite_hash", "new_task_hash")


def _identity(r: ScoreReport, label: str | None) -> dict:
    return {
        "run_id": (r.kl.prompts_hash if r.kl else r.suite_hash)[:8] + r.ckpt.fingerprint[:8] + r.base.fingerprint[:8],
        "date": r.created, "label": label or "",
        "base": r.base.spec, "base_fingerprint": r.base.fingerprint, "ckpt": r.ckpt.spec, "ckpt_fingerprint": r.ckpt.fingerprint,
        "suite": r.suite, "suite_hash": r.suite_hash, "n_tasks": len(r.retention.tasks), "n_items": r.retention.n_items,
    }  # fmt: skip


def _new_task(r: ScoreReport) -> dict:
    new = r.new_task_score
    return {
        "new_task": r.new_task or None, "new_task_hash": r.kl.prompts_hash if r.kl else None,
        "new_task_metric": new.metric if new else None, "new_task_base": new.base if new else None,
        "new_task_ckpt": new.ckpt if new else None, "new_task_gain": new.gain if new else None,
        "new_task_gain_low": new.gain_low if new else None, "new_task_gain_high": new.gain_high if new else None,
    }  # fmt: skip


def _outcome(r: ScoreReport) -> dict:
    ret, kl = r.retention, r.kl
    out = {
        "forgetting": ret.forgetting, "forgetting_low": ret.forgetting_low, "forgetting_high": ret.forgetting_high,
        "forgetting_weighted": ret.forgetting_weighted, "retention_ratio": ret.retention_ratio,
    }  # fmt: skip
    if kl is None:  # a comparison of lm-eval logs: the KL columns are empty
        return out | dict.fromkeys(KL_COLUMNS)
    head = kl.headline_estimate
    return out | {
        "kl_direction": kl.direction, "kl_estimator": head.name, "kl": head.mean, "kl_low": head.ci_low,
        "kl_high": head.ci_high, "kl_per_token": head.per_token,
        "kl_noise_floor": kl.noise_floor.mean if kl.noise_floor else None,
        "kl_prompts": kl.n_prompts, "kl_samples_per_prompt": kl.samples_per_prompt,
        "kl_max_new_tokens": kl.max_new_tokens, "kl_mean_response_tokens": kl.mean_response_tokens,
    }  # fmt: skip


def _provenance(r: ScoreReport) -> dict:
    return {
        "backend": r.settings.backend, "dtype": r.settings.dtype, "seed": r.seed,
        "forgetbench": r.forgetbench_version, "lm_eval": r.settings.lm_eval_version,
        "transformers": r.versions.get("transformers"), "torch": r.versions.get("torch"),
        "vllm": r.kl.engine_version if r.kl else None,
    }  # fmt: skip


def _task(t: TaskComparison) -> dict:
    both = t.base_adjusted is not None and t.ckpt_adjusted is not None
    return {
        f"{t.task}:base": t.base, f"{t.task}:ckpt": t.ckpt, f"{t.task}:delta": t.delta,
        f"{t.task}:base_adjusted": t.base_adjusted, f"{t.task}:ckpt_adjusted": t.ckpt_adjusted,
        f"{t.task}:delta_adjusted": t.ckpt_adjusted - t.base_adjusted if both else None,  # type: ignore[operator]
    }  # fmt: skip


def _predictors(r: ScoreReport) -> dict:
    """One column per predictor the run measured beyond the forward KL (`PREDICTOR_COLUMNS` order; the value
    only: its interval stays in the run's report.json); none for a run without them, so a board of such runs
    keeps its shape."""
    measured = {BY_NAME[p.name].column: p.value for p in (r.kl.predictors if r.kl else ())}
    return {c: measured[c] for c in PREDICTOR_COLUMNS if c in measured}


def row(r: ScoreReport, label: str | None = None) -> dict:
    """A report's leaderboard row (COLUMNS, then the predictor columns the run measured, then `TASK:field`
    for each task in suite order)."""
    out = {**_identity(r, label), **_new_task(r), **_outcome(r), **_provenance(r)}
    if tuple(out) != COLUMNS:
        raise AssertionError("leaderboard row columns out of step with COLUMNS")
    out.update(_predictors(r))
    for t in r.retention.tasks:
        out.update(_task(t))
    return out


def read(path: Path):
    """A leaderboard CSV as a DataFrame (DataError when it is not one)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype={"label": str}, keep_default_na=True)
    except FileNotFoundError:
        raise DataError(f"no leaderboard at {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a leaderboard CSV ({type(exc).__name__})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: not a forgetbench leaderboard (missing column(s) {', '.join(missing[:3])})")
    frame["label"] = frame["label"].fillna("")
    return frame


@dataclass(frozen=True)
class AddResult:
    """What `add_rows` did."""

    added: int
    updated: int
    total: int


def _ordered_columns(frame) -> list[str]:
    """`COLUMNS`, then the predictor columns the board has (`PREDICTOR_COLUMNS` order), then per task."""
    tasks: list[str] = []
    for col in frame.columns:
        if ":" in col and col.rsplit(":", 1)[0] not in tasks:
            tasks.append(col.rsplit(":", 1)[0])
    predictors = [c for c in PREDICTOR_COLUMNS if c in frame.columns]
    return list(COLUMNS) + predictors + [f"{t}:{f}" for t in tasks for f in TASK_COLUMNS]


def add_rows(rows: list[dict], to: Path, allow_suite_change: bool = False) -> AddResult:
    """Upsert rows (keyed by KEY) into the CSV `to`, atomically and under a lock: concurrent writers
    serialise, a reader never sees a half-written file, and a refused add leaves the file as it was."""
    import pandas as pd

    to = Path(to)
    check_output_path(to, "--to")
    with file_lock(to.with_name(f".{to.name}.lock")):
        old = read(to) if to.exists() else pd.DataFrame(columns=list(COLUMNS))
        new = pd.DataFrame(rows)
        suites = set(old["suite_hash"].dropna()) | set(new["suite_hash"])
        if len(suites) > 1 and not allow_suite_change:
            raise DataError(
                f"{to}: rows of different suites ({', '.join(sorted(h[:12] for h in suites))}); a leaderboard holds one "
                "suite (pass --allow-suite-change to mix them)"
            )
        keys = set(map(tuple, old[list(KEY)].fillna("").astype(str).to_numpy()))
        new_keys = [tuple("" if r[k] is None else str(r[k]) for k in KEY) for r in rows]  # no KL: no new-task hash
        updated = sum(k in keys for k in set(new_keys))
        merged = pd.concat([old, new], ignore_index=True) if len(old) else new
        merged = merged.drop_duplicates(subset=list(KEY), keep="last")
        merged = merged[_ordered_columns(merged)]
        buf = io.StringIO()
        merged.to_csv(buf, index=False)
        write_output(to, buf.getvalue().encode(), "--to")
    return AddResult(added=len(set(new_keys)) - updated, updated=updated, total=len(merged))


def add(
    reports: list[Path], to: Path, allow_suite_change: bool = False, label: str | None = None, ckpt_name: str | None = None
) -> AddResult:
    """Rows of saved score reports (run folders or report.json files) upserted into `to`;
    `ckpt_name` replaces the checkpoint's spec (a local path) by a published name (one report only)."""
    if ckpt_name is not None and len(reports) != 1:
        raise UserInputError("--ckpt-name names one checkpoint: give exactly one report with it")
    rows = [row(load_report(p), label) for p in reports]
    if ckpt_name is not None:
        rows[0]["ckpt"] = ckpt_name
    return add_rows(rows, to, allow_suite_change)
