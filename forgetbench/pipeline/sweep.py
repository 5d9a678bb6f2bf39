"""`forgetbench sweep`: score every checkpoint of a training run against one base, with one backend.

1. The checkpoints: each CKPT argument is a model (full weights or a PEFT adapter) or a training output
   folder, whose `checkpoint-<step>` folders are taken in step order (`models.training`). `--shard I/N`
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
from forgetbench.backends.registry import open_backend
from forgetbench.core.config import Executor, ScoreConfig
from forgetbench.core.errors import DataError, ResultFileError, UserInputError
from forgetbench.core.fs import atomic_write_bytes
from forgetbench.core.hashing import digest
from forgetbench.core.progress import Reporter
from forgetbench.core.results_io import load_report
from forgetbench.core.store import Store
from forgetbench.kl.run import Passes
from forgetbench.leaderboard.table import add
from forgetbench.models.spec import check, resolve
from forgetbench.models.training import Checkpoint, expand
from forgetbench.pipeline.executor import RayExecutor
from forgetbench.pipeline.jobs import Graph
from forgetbench.pipeline.run_folder import default_folder, prepare, write_html, write_score
from forgetbench.pipeline.score import ScorePlan, plan_score, run_score
from forgetbench.prior.run import suite_hash
from forgetbench.report import sweep_html, trajectory

SWEEP_FILE = "sweep.json"
SWEEP_VERSION = 1


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
    return digest(json.loads(json.dumps(blank, default=str)))


def _record(folder: Path, config: ScoreConfig, checkpoints: list[Checkpoint]) -> None:
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
    path = folder / SWEEP_FILE
    if path.is_file():
        old = _read_record(folder)
        for key, what in (("base", "base"), ("settings", "set of settings")):
            if old.get(key) != record[key]:
                raise UserInputError(f"{folder} holds a sweep with another {what}; give another --out")
        names = {c["name"]: c["step"] for c in listed}
        lost = [c["name"] for c in old["checkpoints"] if names.get(c["name"], -1) != c.get("step")]
        if lost:  # a run that saved more checkpoints since may grow the sweep; one that lost some is another sweep
            raise UserInputError(
                f"{folder} holds a sweep with checkpoints this one lacks ({', '.join(lost[:3])}); give another --out"
            )
        if old["checkpoints"] == record["checkpoints"]:
            return
    atomic_write_bytes(path, json.dumps(record, indent=2).encode())


def _read_record(folder: Path) -> dict:
    path = folder / SWEEP_FILE
    if not folder.is_dir():
        raise UserInputError(f"{folder}: not a sweep folder (not a folder)")
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserInputError(f"{folder}: not a sweep folder (no {SWEEP_FILE})") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ResultFileError(f"{path} is not valid JSON") from None
    if not isinstance(record, dict) or record.get("sweep_version") != SWEEP_VERSION or "checkpoints" not in record:
        raise ResultFileError(f"{path}: not a sweep record of version {SWEEP_VERSION}")
    return record


def _finished(run: Path, plan: ScorePlan) -> bool:
    """Whether `run` holds the finished report of this checkpoint against this base, with these settings
    (suite contents, prompts, KL sizes, seed, backend and dtype)."""
    if not (run / "report.json").is_file():
        return False
    r, kl, c = load_report(run), plan.kl, plan.config.kl
    if r.kl is None:  # a `compare` folder under the sweep's name: not this checkpoint's score run
        return False
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
    folder = prepare(out or default_folder("sweep"))
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
            if _finished(folder / c.name, plan):
                reused.append(c.name)
            else:
                todo.append((c, plan))
        passes: dict[int, Passes] = {}
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
            write_score(run, prepare(folder / c.name, "score"))
            ran.append(c.name)
        usage = backend.usage
    return replace(collect(folder, to=to), ran=ran, reused=reused, usage=usage, jobs=jobs)


def collect(folder: Path, *, to: Path | None = None) -> SweepOutcome:
    """The trajectory of the sweep in `folder` from the run folders present (trajectory.csv, .md, .png,
    .svg, and report.html linking each checkpoint's own), the checkpoints still missing, and with `to` their leaderboard rows upserted."""
    folder = Path(folder)
    record = _read_record(folder)
    points, missing, runs = [], [], []
    for c in record["checkpoints"]:
        run = folder / str(c["name"])
        if not (run / "report.json").is_file():
            missing.append(str(c["name"]))
            continue
        points.append(trajectory.point(str(c["name"]), c.get("step"), str(run), load_report(run)))
        runs.append(run)
        if not (run / "report.html").is_file():  # a run folder from before pages: the sweep's page links to it
            write_html(run)
    files: list[Path] = []
    if points:
        for name, data in (
            ("trajectory.csv", trajectory.to_csv(points)),
            ("trajectory.md", trajectory.to_markdown(points).encode()),
        ):
            atomic_write_bytes(folder / name, data)
            files.append(folder / name)
        files += trajectory.plot(points, folder / "trajectory")
        atomic_write_bytes(folder / "report.html", sweep_html.render(folder.name, points, missing).encode())
        files.append(folder / "report.html")
    if to is not None:
        if not runs:
            raise DataError(f"{folder}: no finished checkpoint to add to {to}")
        add(runs, to, label=folder.name)
    return SweepOutcome(folder, points, missing, [], [], None, files)
