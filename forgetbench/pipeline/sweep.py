"""`forgetbench sweep`: score every checkpoint of a training run against one base, with one backend.

1. The checkpoints: each CKPT argument is a model (full weights or a PEFT adapter) or a training output
   folder, whose `checkpoint-<step>` folders are taken in step order (`models.checkpoints`). `--shard I/N`
   keeps checkpoints I, I+N, I+2N, ... (0 ≤ I < N): a deterministic share for job arrays or machines
   sharing a store.
2. Every check of every checkpoint of the share before any compute (`plan_score` each), and of the
   other shards' checkpoints as far as headers allow (`models.spec.check`): a bad one — an adapter
   for another base or with a broken config, a checkpoint still being written, a `checkpoint-final`
   or two folders of one step in a run — **stops the sweep** with one line (exit 2), before anything
   is computed or written (`sweep.json` included). A partial trajectory silently missing a
   checkpoint is worse than a rerun; rerun once the checkpoint is whole, or without it.
3. One backend for the share: the base is evaluated and sampled once (the store serves it to every
   later checkpoint, and its loaded model stays loaded), and under vLLM one engine serves a base and
   its adapters. Each checkpoint gets its own run folder, exactly what `score` writes, named after it.
4. Resumable: a checkpoint whose run folder already holds its report (same base and checkpoint
   fingerprints, suite contents, prompts, KL sizes, seed, backend and dtype) is not run again; within a checkpoint the store keeps finished suite tasks and the
   base's samples. A killed sweep, rerun, does only what is missing and ends with the same numbers.
5. `collect` assembles the trajectory (CSV, Markdown, plot) from the run folders present, whichever
   shard wrote them, lists the checkpoints not yet run and, with `to`, upserts their leaderboard rows.

The sweep folder's `sweep.json` records the base, the settings' digest and the checkpoint list: a sweep
with another base or other settings is refused there rather than mixed in; the list may grow (a run
that saved more checkpoints since) but not lose a checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from forgetbench.backends.base import Usage
from forgetbench.backends.registry import open_backend, settings_record
from forgetbench.core.config import Executor, ScoreConfig
from forgetbench.core.errors import DataError, UserInputError
from forgetbench.core.hashing import digest
from forgetbench.core.progress import Reporter
from forgetbench.core.store import Store
from forgetbench.kl.run import Passes
from forgetbench.leaderboard.table import add
from forgetbench.models.checkpoints import Checkpoint, expand
from forgetbench.models.spec import check, resolve
from forgetbench.pipeline.executor import RayExecutor
from forgetbench.pipeline.jobs import Graph
from forgetbench.pipeline.run_folder import write_html, write_score
from forgetbench.pipeline.score import ScorePlan, plan_score, run_score
from forgetbench.prior.run import suite_hash
from forgetbench.report import sweep_html, trajectory
from forgetbench.runs import SWEEP_VERSION, RunFolder


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep (or `collect`) found and did."""

    folder: Path
    points: list[trajectory.Point]
    """The trajectory: one point per checkpoint with a finished run folder, in sweep order."""
    missing: list[str]
    """Checkpoints without a finished run folder (other shards', or not run yet)."""
    ran: list[str]
    """Checkpoints this call computed (empty for `collect`)."""
    reused: list[str]
    """Checkpoints of this call's share already finished in the sweep folder."""
    usage: Usage | None
    """Model loads and engine starts of this call (None for `collect`; the driver's own under Ray)."""
    files: list[Path]
    """Trajectory files written."""
    jobs: dict[str, float] = field(default_factory=dict)
    """Under `--executor ray`: each job this call ran on the cluster → its seconds, as the driver saw them."""


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`I/N` with 0 ≤ I < N (UserInputError otherwise); None for no sharding."""
    if text is None:
        return None
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise UserInputError(f"--shard must be I/N, e.g. 0/4 (got {text!r})") from None
    if not 0 <= i < n:
        raise UserInputError(f"--shard {text}: needs 0 ≤ I < N")
    return i, n


def _settings_digest(config: ScoreConfig) -> str:
    """The sweep's settings: everything of a score run but the checkpoint and `allow_base_mismatch` (which
    changes what is allowed, not what is measured: each report records its adapter's match)."""
    blank = dataclasses.asdict(replace(config, kl=replace(config.kl, ckpt="")))
    for part in ("eval", "kl"):
        blank[part].pop("allow_base_mismatch", None)
        blank[part]["runtime"] = settings_record(getattr(config, part).runtime)  # the layout digests were made in
    return digest(json.loads(json.dumps(blank, default=str)))


def _record(folder: RunFolder, config: ScoreConfig, checkpoints: list[Checkpoint]) -> None:
    """Write `sweep.json`, or check that the one there describes this sweep."""
    listed = [{"name": c.name, "spec": c.spec, "step": c.step} for c in checkpoints]
    record: dict[str, Any] = {
        "sweep_version": SWEEP_VERSION,
        "base": config.base,
        "new_task": config.new_task,
        "suite": config.eval.suite,
        "settings": _settings_digest(config),
        "checkpoints": listed,
    }
    if folder.sweep_file.is_file():
        old = folder.sweep_record()
        for key, what in (("base", "base"), ("settings", "set of settings")):
            if old.get(key) != record[key]:
                raise UserInputError(f"{folder.path} holds a sweep with another {what}; give another --out")
        names = {c["name"]: c["step"] for c in listed}
        lost = [c["name"] for c in old["checkpoints"] if names.get(c["name"], -1) != c.get("step")]
        if lost:  # a run that saved more checkpoints since may grow the sweep; one that lost some is another sweep
            raise UserInputError(
                f"{folder.path} holds a sweep with checkpoints this one lacks ({', '.join(lost[:3])}); give another --out"
            )
        if old["checkpoints"] == record["checkpoints"]:
            return
    folder.write_sweep_record(record)


def _finished(run: RunFolder, plan: ScorePlan) -> bool:
    """Whether `run` holds the finished `score` report of this checkpoint against this base, with these
    settings (suite contents, prompts, KL sizes, seed, backend and dtype)."""
    if run.kind != "score":  # nothing yet, or a `compare` or KL-only folder under the checkpoint's name
        return False
    r, kl, c = run.report(verify=False), plan.kl, plan.config.kl
    assert r.kl is not None  # a `score` report always has its KL
    made = (r.base.fingerprint, r.ckpt.fingerprint, r.suite_hash, r.kl.prompts_hash, r.kl.n_prompts, r.kl.samples_per_prompt,
            r.kl.max_new_tokens, r.kl.seed, r.kl.direction, r.settings.backend, r.settings.dtype, r.settings.limit)  # fmt: skip
    wanted = (kl.base.fingerprint.digest, kl.ckpt.fingerprint.digest, suite_hash(plan.base.hashes), kl.prompts_hash,
              len(kl.prompt_ids), c.samples_per_prompt, c.max_new_tokens, c.seed, c.direction, plan.base.settings.backend,
              plan.base.settings.dtype, plan.base.settings.limit)  # fmt: skip
    return made == wanted


def _check_other_shards(config: ScoreConfig, others: list[Checkpoint], plans: list[ScorePlan], reporter: Reporter) -> None:
    """The checkpoints other shards compute, checked as far as headers allow (`models.spec.check`: an
    adapter's whole config, tensors and base; a full-weight folder's files), so that no shard records a
    sweep with a checkpoint that cannot run."""
    if not others:
        return
    trust = config.eval.runtime.trust_remote_code
    base = plans[0].kl.base if plans else resolve(config.base, trust)
    for c in others:
        reporter.message(f"checking {c.name} (another shard's)")
        check(c.spec, trust, base, config.kl.allow_base_mismatch)


def sweep(
    config: ScoreConfig,
    checkpoints: list[str],
    *,
    store: Store,
    out: Path | None = None,
    shard: tuple[int, int] | None = None,
    to: Path | None = None,
    reporter: Reporter | None = None,
    executor: Executor = "local",
    ray_address: str | None = None,
) -> SweepOutcome:
    """Score each checkpoint (of this shard) against `config`'s base (its `ckpt` is ignored), write a run
    folder per checkpoint into the sweep folder `out`, then `collect` it. `executor="ray"` runs the work as
    Ray jobs (`pipeline.executor`) on the cluster at `ray_address` (`RAY_ADDRESS`; else a local one)."""
    reporter = reporter or Reporter()
    ray = RayExecutor(config.eval.runtime, ray_address) if executor == "ray" else None  # no Ray: exit 2, before any work
    found = expand(checkpoints)
    folder = RunFolder.at(out, "sweep").prepare("sweep")
    share = found[shard[0] :: shard[1]] if shard else found
    ran: list[str] = []
    reused: list[str] = []
    with open_backend(config.eval.runtime) as backend:
        plans = []
        for c in share:  # every check of every checkpoint before any compute
            reporter.message(f"checking {c.name}")
            plans.append(plan_score(replace(config, kl=replace(config.kl, ckpt=c.spec)), store, backend, reporter))
        _check_other_shards(config, [c for c in found if c not in share], plans, reporter)
        _record(folder, config, found)
        todo = []
        for c, plan in zip(share, plans):
            if _finished(folder.checkpoint(c.name), plan):
                reused.append(c.name)
            else:
                todo.append((c, plan))
        passes: dict[int, dict[str, Passes]] = {}
        jobs: dict[str, float] = {}
        if todo and ray is not None:  # the cluster computes; the driver writes the store as results come back
            graph = Graph([plan for _, plan in todo], store)
            with ray:
                ray.run(graph, reporter)
            passes, jobs = graph.passes, graph.timings
        elif todo:
            backend.expect([todo[0][1].base.model] + [plan.ckpt.model for _, plan in todo])
        for i, (c, plan) in enumerate(todo):
            reporter.message(f"checkpoint {i + 1}/{len(todo)}: {c.name}")
            run = run_score(plan, backend, store, reporter, passes.get(i))
            write_score(run, folder.checkpoint(c.name).prepare("score").path)
            ran.append(c.name)
        usage = backend.usage
    return replace(collect(folder.path, to=to), ran=ran, reused=reused, usage=usage, jobs=jobs)


def collect(folder: Path, *, to: Path | None = None) -> SweepOutcome:
    """The trajectory of the sweep in `folder` from the run folders present (trajectory.csv, .md, .png,
    .svg, and report.html linking each checkpoint's own), the checkpoints still missing, and with `to` their leaderboard rows upserted."""
    sweep_folder = RunFolder(folder)
    record = sweep_folder.sweep_record()
    points, missing, runs = [], [], []
    for c in record["checkpoints"]:
        run = sweep_folder.checkpoint(str(c["name"]))
        if run.kind != "score":
            missing.append(str(c["name"]))
            continue
        points.append(trajectory.point(str(c["name"]), c.get("step"), str(run.path), run.report(verify=False)))
        runs.append(run.path)
        if not run.has_page():  # a run folder from before pages: the sweep's page links to it
            write_html(run.path)
    files: list[Path] = []
    if points:
        files += sweep_folder.write_trajectory(trajectory.to_csv(points), trajectory.to_markdown(points).encode())
        files += trajectory.plot(points, sweep_folder.trajectory_stem)
        files.append(sweep_folder.write_page(sweep_html.render(sweep_folder.path.name, points, missing).encode()))
    if to is not None:
        if not runs:
            raise DataError(f"{folder}: no finished checkpoint to add to {to}")
        add(runs, to, label=sweep_folder.path.name)
    return SweepOutcome(sweep_folder.path, points, missing, [], [], None, files)
