"""`forgetbench compare`: retention from two existing `lm_eval --log_samples` runs (no model is loaded).

1. Every check before anything is written: the policy of `--gate`, both runs found and parsed, the
   tasks both have (or `--tasks`), per task the same version, configuration (`prior.logs.task_config`: as
   the installed lm-eval logs it, so a key a later lm-eval writes with its default value is no difference),
   few-shot and documents; the `--kl` run measured the same pair. Runs written by different software
   (lm-eval, its git commit, transformers), or whose lm-eval task hashes differ, are compared with a warning.
2. The same paired statistics as `score` (`prior.retention.compare`) on the logged per-item outcomes.
3. A run folder like `score`'s (report.json with `source: lm-eval logs`, items.parquet, report.md, the
   leaderboard row; kl.parquet when `--kl` joins a KL run); then `--gate` decides on it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from forgetbench import __version__
from forgetbench.core.config import CompareConfig
from forgetbench.core.errors import DataError, UserInputError
from forgetbench.core.results import SCHEMA_VERSION, EvalResult, KLResult, ScoreReport
from forgetbench.gate.decide import check_policy
from forgetbench.gate.policy import GatePolicy
from forgetbench.kl.run import KLRun
from forgetbench.pipeline.gate import check_outputs, gate_run, resolve_policy
from forgetbench.pipeline.meta import provenance
from forgetbench.pipeline.run_folder import ScoreRun, write_html, write_score
from forgetbench.pipeline.score import ScoreOutcome
from forgetbench.prior import logs
from forgetbench.prior.retention import compare as compare_retention
from forgetbench.prior.retention import pair
from forgetbench.prior.run import suite_hash
from forgetbench.report.verdict import report_warnings, unresolved_floor, verdict
from forgetbench.runs import REPORT_KINDS, RunFolder, layout

SETTINGS = ("backend", "dtype", "limit", "chat_template")
"""What both runs must share besides the tasks (lm-eval versions may differ when the tasks agree)."""


def _tasks(base: logs.LoggedRun, ckpt: logs.LoggedRun, wanted: tuple[str, ...] | None) -> list[str]:
    if wanted:
        for side, run in (("base", base), ("checkpoint", ckpt)):
            missing = [t for t in wanted if t not in run.tasks]
            if missing:
                raise UserInputError(
                    f"task {missing[0]} is not in the {side} logs ({run.results_file}; tasks: {', '.join(run.tasks)})"
                )
        return list(dict.fromkeys(wanted))
    for side, run, other in (("base", base, ckpt), ("checkpoint", ckpt, base)):
        only = [t for t in run.tasks if t not in other.tasks]
        if only:
            raise UserInputError(f"task {only[0]} is in the {side} logs only; pass --tasks to compare the tasks both runs have")
    return list(base.tasks)


def _check_task(base: logs.LoggedRun, ckpt: logs.LoggedRun, task: str) -> None:
    b, c = base.tasks[task], ckpt.tasks[task]
    if b.version != c.version:
        raise DataError(
            f"task {task}: version {b.version} in the base logs, {c.version} in the checkpoint's; refusing to compare"
        )
    if b.n_shot != c.n_shot:
        raise DataError(
            f"task {task}: {b.n_shot}-shot in the base logs, {c.n_shot}-shot in the checkpoint's; refusing to compare"
        )
    cb, cc = logs.task_config(base, task), logs.task_config(ckpt, task)
    differ = sorted(k for k in cb.keys() | cc.keys() if cb.get(k) != cc.get(k))
    if differ:
        raise DataError(f"task {task}: its configuration differs between the two logs ({', '.join(differ)}); refusing to compare")


def _reconciled(base: logs.LoggedRun, ckpt: logs.LoggedRun, task: str) -> set[str]:
    """The config keys the two logs write differently that agree as the installed lm-eval logs them (a key
    one lm-eval version writes with its default value and the other does not write)."""
    raw = [logs.task_config(r, task, defaults=False) for r in (base, ckpt)]
    full = [logs.task_config(r, task) for r in (base, ckpt)]
    return {k for k in raw[0].keys() | raw[1].keys() if raw[0].get(k) != raw[1].get(k) and full[0].get(k) == full[1].get(k)}


def _hash_note(base: logs.LoggedRun, ckpt: logs.LoggedRun, tasks: list[str]) -> tuple[str, list[str]]:
    """Whether lm-eval's own task hashes (of each sample's doc, prompt and target) agree, and the tasks where
    they differ."""
    pairs = {t: (logs.lm_eval_task_hash(base, t), logs.lm_eval_task_hash(ckpt, t)) for t in tasks}
    carried = {t: h for t, h in pairs.items() if h[0] and h[1]}
    differ = [t for t, (a, b) in carried.items() if a != b]
    if not carried:
        return "lm-eval's own task hashes are not in both logs", differ
    if differ:
        return f"lm-eval's own task hashes differ for {', '.join(differ)}", differ
    count = "all" if len(carried) == len(tasks) else f"{len(carried)} of"
    return f"lm-eval's own task hashes agree for {count} {len(tasks)} tasks", differ


def log_warnings(base: logs.LoggedRun, ckpt: logs.LoggedRun, tasks: list[str]) -> tuple[str, ...]:
    """What a report says of two logs written by different software (`logs.SOFTWARE`; a config key one of
    them writes with lm-eval's default value says so too), and of lm-eval task hashes that differ."""
    sb, sc = logs.software(base), logs.software(ckpt)
    unknown = {"lm_eval_version": "< 0.4.9 (not recorded)"}
    differ = [
        f"{what} {sb[k] or unknown[k]} (base) vs {sc[k] or unknown[k]} (checkpoint)"
        for k, what in logs.SOFTWARE.items()
        if sb[k] != sc[k] and ((sb[k] and sc[k]) or k in unknown)
    ]
    keys = sorted(set().union(*(_reconciled(base, ckpt, t) for t in tasks)))
    hashes, hash_differ = _hash_note(base, ckpt, tasks)
    filled = f" once the keys one log writes with lm-eval's default value are filled in ({', '.join(keys)})" if keys else ""
    if differ or keys:
        made = f"made with different software ({'; '.join(differ)})" if differ else "written by different lm-eval versions"
        return (f"the two runs were {made}: compared, since the task configurations agree{filled}; {hashes}",)
    if hash_differ:
        return (
            f"{hashes} although the task configurations agree: lm-eval built different prompts or targets for the same "
            "documents (its hash covers each sample's doc, prompt and target)",
        )
    return ()


PROMPTING = {"system_instruction_sha": "system instruction", "fewshot_as_multiturn": "few-shot as multi-turn"}
"""What lm-eval 0.4.3+ records of how prompts were built, beyond the task config."""


def _check_settings(base: EvalResult, ckpt: EvalResult, runs: tuple[logs.LoggedRun, logs.LoggedRun]) -> None:
    sb, sc = base.settings, ckpt.settings
    if sb.seeds and sc.seeds and sb.seeds != sc.seeds:  # recorded since lm-eval 0.4.3
        raise DataError(f"the two runs used different seeds ({sb.seeds} vs {sc.seeds}); refusing to compare")
    for key, what in PROMPTING.items():
        a, b = (r.data.get(key) for r in runs)
        if key in runs[0].data and key in runs[1].data and a != b:
            raise DataError(f"the two runs were prompted with a different {what} ({a!r} vs {b!r}); refusing to compare")
    for tb, tc in zip(base.tasks, ckpt.tasks):
        pair(tb, tc)  # one side's items, or a document, differ: said per task, before the task hashes are


def _evaluation(run: logs.LoggedRun, tasks: list[str], metrics: dict[str, str], suite: str) -> EvalResult:
    results = tuple(logs.task_result(run, t, metrics.get(t)) for t in tasks)
    return EvalResult(SCHEMA_VERSION, __version__, logs.model_info(run), suite, logs.settings(run), results, 0.0)


def _kl(path: str, base: logs.LoggedRun, ckpt: logs.LoggedRun) -> KLRun:
    """The KL of a `kl`, `score` or `compare --kl` run folder, when it measured the logs' pair (checked by
    name and path)."""
    if not Path(path).exists():
        raise UserInputError(f"--kl {path}: no such run folder")
    folder = RunFolder.of(path)
    kind = folder.kind
    result: KLResult | None
    if kind == "kl":
        result = folder.kl_result()
    elif kind in REPORT_KINDS:
        result = folder.report().kl
    else:
        raise UserInputError(
            f"--kl {path}: neither {layout.KL} nor {layout.REPORT} there (give a folder written by `forgetbench kl` or `score`)"
        )
    if result is None or not folder.has_kl_rows():
        raise UserInputError(f"--kl {path}: that run has no KL")
    for side, run, info in (("base", base, result.base), ("checkpoint", ckpt, result.ckpt)):
        if not logs.same_model(run, info):
            raise UserInputError(
                f"--kl {path} measured {result.base.spec} → {result.ckpt.spec}, but the {side} logs are of {run.name}; "
                "give the KL run of the same pair"
            )
    return KLRun(replace(result, files={}, digest=""), folder.rows()[1])


def compute_compare(config: CompareConfig, policy: GatePolicy | None = None) -> ScoreRun:
    """Read, check and compare the two runs (and join `--kl`); nothing is written. `policy`: the `--gate`
    policy, checked against what the comparison holds before anything is written."""
    started = time.perf_counter()
    if policy is not None and policy.max_kl is not None and config.kl is None:
        raise UserInputError(
            "the policy has a max_kl rule and lm-eval logs hold no KL: pass --kl with a `forgetbench kl` run of the pair"
        )
    found = [logs.find_runs(Path(config.base)), logs.find_runs(Path(config.ckpt))]
    if config.run and not any(logs.has_run(f, config.run) for f in found):
        raise UserInputError(f"--run {config.run!r}: no lm-eval run of that date in {config.base} or {config.ckpt}")
    picked = [logs.pick_run(f, config.run) for f in found]
    if picked[0].resolve() == picked[1].resolve():
        raise UserInputError(f"both sides read the same lm-eval run ({picked[0]}); give the base's and the checkpoint's")
    base, ckpt = (logs.read_run(p) for p in picked)
    tasks = _tasks(base, ckpt, config.tasks)
    if not tasks:
        raise UserInputError(f"{base.results_file} holds no task")
    unknown = sorted(set(config.metrics) - set(tasks))
    if unknown:
        raise UserInputError(f"--metric names task {unknown[0]}, which is not compared (tasks: {', '.join(tasks)})")
    for t in tasks:
        _check_task(base, ckpt, t)
    suite = "lm-eval:" + ",".join(tasks)
    base_eval, ckpt_eval = (_evaluation(r, tasks, config.metrics, suite) for r in (base, ckpt))
    _check_settings(base_eval, ckpt_eval, (base, ckpt))
    retention = compare_retention(base_eval, ckpt_eval, SETTINGS)
    kl_run = _kl(config.kl, base, ckpt) if config.kl else None
    kl = kl_run.result if kl_run else None
    if policy is not None:  # what the gate would refuse once the folder is written, refused before
        measured = tuple(p.name for p in kl.predictors) if kl else ()
        check_policy(
            policy, "this comparison", set(tasks), kl.direction if kl else None, measured, kl.predictor_notes if kl else ()
        )
    task_hashes = {t.task: t.task_hash for t in base_eval.tasks}
    report = ScoreReport(
        **provenance(),
        seed=kl.seed if kl else 0,
        base=kl.base if kl else base_eval.model,
        ckpt=kl.ckpt if kl else ckpt_eval.model,
        suite=suite,
        suite_hash=suite_hash(task_hashes),
        task_hashes=task_hashes,
        settings=base_eval.settings,
        retention=retention,
        new_task=kl.prompts_source if kl else "",
        new_task_score=None,
        kl=kl,
        verdict=verdict(retention, kl.headline_estimate if kl else None, None, unresolved_floor(kl) if kl else None),
        elapsed_s=time.perf_counter() - started,
        warnings=report_warnings(retention, kl) + log_warnings(base, ckpt, tasks),
        source="lm-eval logs",
        base_logs=logs.source(base, tasks),
        ckpt_logs=logs.source(ckpt, tasks),
    )
    return ScoreRun(report, base_eval, ckpt_eval, kl_run)


def compare(
    config: CompareConfig,
    *,
    out: Path | None = None,
    gate: Path | GatePolicy | None = None,
    policy_path: Path | None = None,
    junit: Path | None = None,
) -> ScoreOutcome:
    """The whole `forgetbench compare` job: read and check both runs, write the run folder (`out`, default
    `runs/compare-<time>/`), and decide `gate` on it."""
    gate, policy_path = resolve_policy(gate, policy_path)
    check_outputs(junit)
    run = compute_compare(config, gate)  # every refusal before the folder exists
    folder = RunFolder.at(out, "compare").prepare("compare").path
    report = write_score(run, folder)
    verdict_ = gate_run(folder, gate, policy_path=policy_path, junit=junit) if gate is not None else None
    if verdict_ is not None:
        write_html(folder, verdict_)  # the page shows the gate's decision
    return ScoreOutcome(folder, report, report.kl, verdict_)
