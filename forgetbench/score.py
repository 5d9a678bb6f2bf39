"""`forgetbench score`: the main job. Prior-capability suite on both models (from the store when
present), the new task's own score when it is an lm-eval task, and the KL on its prompts; then the
paired statistics, a typed report and the run directory of DESIGN.md §5."""

from __future__ import annotations

import datetime
import platform
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from forgetbench import __version__
from forgetbench.compare import compare, pair
from forgetbench.config import EvalConfig, KLConfig, ScoreConfig
from forgetbench.errors import UserInputError
from forgetbench.kl.run import KLRun, measure_kl
from forgetbench.models import resolve
from forgetbench.progress import Reporter
from forgetbench.schema import SCHEMA_VERSION, EvalResult, LawPrediction, NewTaskScore, Retention, ScoreReport
from forgetbench.stats.paired import paired_delta_ci
from forgetbench.store import Store, digest


@dataclass(frozen=True)
class ScoreRun:
    """The report and the rows behind it."""

    report: ScoreReport
    base_eval: EvalResult
    ckpt_eval: EvalResult
    kl: KLRun


def _new_task(spec: str) -> tuple[str | None, str | None]:
    """(prompts file, lm-eval task) for `--new-task`."""
    from forgetbench.prior.suites import task_manager

    if Path(spec).is_file():
        return spec, None
    name = spec.removeprefix("task:")
    if name in task_manager(False).task_index or name in task_manager(True).task_index:
        return None, name
    raise UserInputError(f"--new-task {spec!r} is neither a prompts file nor a registered lm-eval task")


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "lm_eval", "numpy", "pandas", "datasets"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def _git_commit() -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def kl_config(config: ScoreConfig, prompts_file: str | None, task: str | None) -> KLConfig:
    """The KL half of a score run."""
    return KLConfig(
        base=config.base, ckpt=config.ckpt, prompts=prompts_file, task=task, prompt_field=config.prompt_field,
        n_prompts=config.n_prompts, samples_per_prompt=config.samples_per_prompt,
        max_new_tokens=config.max_new_tokens, estimators=config.estimators, seed=config.seed,
        chat_template=config.chat_template, noise_floor_prompts=config.noise_floor_prompts,
        backend=config.backend, full_scorer=config.full_scorer, device=config.device, dtype=config.dtype,
        batch_size=config.batch_size, trust_remote_code=config.trust_remote_code, vllm=config.vllm,
    )


def kl_only(config: ScoreConfig, store: Store, reporter: Reporter | None = None) -> KLRun:
    """Only the KL measurement of a score run (the fast pre-check a KL-only gate needs)."""
    prompts_file, task = _new_task(config.new_task)
    return measure_kl(kl_config(config, prompts_file, task), store, reporter)


def verdict(ret: Retention, kl_mean: float, kl_low: float, kl_high: float, new: NewTaskScore | None) -> str:
    """One sentence: how much was forgotten (and where, significantly), at what KL, for what gain."""
    dropped = [t.task for t in ret.tasks if t.delta_high < 0]
    gained = [t.task for t in ret.tasks if t.delta_low > 0]
    if ret.forgetting_low > 0:
        head = f"Forgot {ret.forgetting:.1f} points on average (95% CI {ret.forgetting_low:.1f} to {ret.forgetting_high:.1f})"
    elif ret.forgetting_high < 0:
        head = f"Improved {-ret.forgetting:.1f} points on average (95% CI {-ret.forgetting_high:.1f} to {-ret.forgetting_low:.1f})"
    else:
        head = f"No significant forgetting ({ret.forgetting:+.1f} points, 95% CI {ret.forgetting_low:.1f} to {ret.forgetting_high:.1f})"
    parts = [f"{head} over {len(ret.tasks)} tasks"]
    if dropped:
        parts.append(f"significant drops on {', '.join(dropped)}")
    if gained:
        parts.append(f"significant gains on {', '.join(gained)}")
    parts.append(f"forward KL {kl_mean:.3g} nats/sequence [{kl_low:.3g}, {kl_high:.3g}]")
    if new is not None:
        parts.append(f"new task {new.task} {new.gain:+.1f} points [{new.gain_low:+.1f}, {new.gain_high:+.1f}]")
    return "; ".join(parts) + "."


def score(config: ScoreConfig, store: Store, reporter: Reporter | None = None) -> ScoreRun:
    """Run the whole comparison and return the typed report (nothing is written here)."""
    from forgetbench import tokenization
    from forgetbench.prior.run import evaluate

    reporter = reporter or Reporter()
    started = time.perf_counter()
    store.check_writable()
    prompts_file, task = _new_task(config.new_task)
    base_m = resolve(config.base, trust_remote_code=config.trust_remote_code)
    ckpt_m = resolve(config.ckpt, trust_remote_code=config.trust_remote_code)
    tokenization.check_same_vocabulary(base_m, ckpt_m)  # before any compute: KL would be undefined
    law_rows = _law_rows(config.law, base_m.fingerprint.digest, ckpt_m.fingerprint.digest) if config.law else None
    ev = EvalConfig(
        model=config.base, suite=config.suite, limit=config.limit, backend=config.backend, device=config.device,
        dtype=config.dtype, batch_size=config.batch_size, allow_code_execution=config.allow_code_execution,
        trust_remote_code=config.trust_remote_code, vllm=config.vllm,
    )
    reporter.message(f"prior-capability suite {config.suite}: base")
    base_eval = evaluate(ev, store, reporter)
    reporter.message(f"prior-capability suite {config.suite}: checkpoint")
    ckpt_eval = evaluate(replace(ev, model=config.ckpt), store, reporter)
    rng = np.random.default_rng(config.seed)
    retention = compare(base_eval, ckpt_eval, rng)
    new_score = None
    if task is not None:
        reporter.message(f"new task {task}: both models")
        one = replace(ev, suite=f"task:{task}", limit=None)
        nb, nc = evaluate(one, store, reporter), evaluate(replace(one, model=config.ckpt), store, reporter)
        b, c = pair(nb.tasks[0], nc.tasks[0])
        ci = paired_delta_ci(b, c, rng)
        new_score = NewTaskScore(task, nb.tasks[0].metric, len(b), 100 * float(b.mean()), 100 * float(c.mean()), ci.estimate, ci.low, ci.high)
    kl_run = measure_kl(kl_config(config, prompts_file, task), store, reporter)
    head = kl_run.result.estimates[0]
    task_hashes = {t.task: t.task_hash for t in base_eval.tasks}
    suite_hash = digest(sorted(task_hashes.items()))
    law = _predict(config.law, law_rows, suite_hash, head.mean) if config.law else None
    report = ScoreReport(
        schema_version=SCHEMA_VERSION, forgetbench_version=__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        git_commit=_git_commit(), versions=_versions(), seed=config.seed,
        base=base_eval.model, ckpt=ckpt_eval.model, suite=config.suite,
        suite_hash=suite_hash, task_hashes=task_hashes, settings=base_eval.settings,
        retention=retention, new_task=config.new_task if prompts_file else f"task:{task}",
        new_task_score=new_score, kl=kl_run.result,
        verdict=verdict(retention, head.mean, head.ci_low, head.ci_high, new_score),
        elapsed_s=time.perf_counter() - started, law=law,
    )
    return ScoreRun(report, base_eval, ckpt_eval, kl_run)


def _law_rows(path: str, base_fp: str, ckpt_fp: str):
    """The leaderboard rows a law may use (same base, not this checkpoint), read before any compute."""
    from forgetbench import leaderboard
    from forgetbench.leaderboard_view import select

    rows = select(leaderboard.read(Path(path)), base_fingerprint=base_fp)
    rows = rows[rows["ckpt_fingerprint"] != ckpt_fp]
    if len(rows) < 3:
        raise UserInputError(f"--law {path}: {len(rows)} other checkpoint(s) of this base; a law needs at least 3")
    return rows


def _predict(path: str, rows, suite_hash: str, kl: float) -> LawPrediction:
    from forgetbench.leaderboard_view import fit_law

    law = fit_law(rows, path, suite_hash=suite_hash)
    q = law.quadratic
    return LawPrediction(path, law.n, q.loo_r2, float(q.predict(kl)), law.warning)
