"""A sweep's work as independent jobs, for an executor that runs them elsewhere (`pipeline.executor`).

Three kinds, each self-contained (its plan travels with it; no store, no shared filesystem needed):

- `EvalJob`: one (model, suite member) prior evaluation — a task, or a group such as MMLU's 57 subjects,
  whose model is loaded once for all of them → its `TaskResult`s;
- `SampleJob`: the KL's responses from the sampling model (the base, for forward KL) → token lists;
- `ScoreJob`: one checkpoint's KL scoring passes on those responses → `Passes` (for each part of its KL: the
  new-task prompts, and when asked the old-task prompts and the reverse direction, `parts`).

A job runs in a worker with its own backend (`run_job`). The driver alone writes: it puts each result in
the store as it arrives (`Graph.done`), submits a checkpoint's `ScoreJob` once its samples exist, and
afterwards assembles every checkpoint's report from the store and the passes, exactly as a local sweep.
A job whose result is already in the store is never made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from forgetbench.core.progress import Reporter
from forgetbench.kl import samples

if TYPE_CHECKING:
    from forgetbench.core.config import Runtime
    from forgetbench.core.store import Store
    from forgetbench.kl.plan import Plan
    from forgetbench.kl.run import Passes
    from forgetbench.prior.run import EvalPlan


@dataclass(frozen=True)
class EvalJob:
    """The missing tasks of one member of a suite evaluation (one model)."""

    name: str
    plan: EvalPlan
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class SampleJob:
    """The KL's responses, drawn from the plan's sampling model."""

    name: str
    plan: Plan


@dataclass(frozen=True)
class ScoreJob:
    """One checkpoint's KL scoring passes (main, noise floor, precision floor) of one part on given responses."""

    name: str
    plan: Plan
    responses: list[list[int]]
    cached: bool
    sampling_s: float
    index: int = 0
    """The checkpoint's position in the graph's plans."""
    part: str = "main"
    """Which part of its KL (`parts`)."""


def parts(kl: Plan) -> list[tuple[str, Plan]]:
    """A KL plan's parts, each sampled and scored on its own: `main` (the new-task prompts), `old` (the prior
    suite's prompts) and `reverse` (`--direction both`), those it has."""
    return [(name, p) for name, p in (("main", kl), ("old", kl.old), ("reverse", kl.reverse)) if p is not None]


Job = Union[EvalJob, SampleJob, ScoreJob]


def run_job(job: Job, runtime: Runtime) -> Any:
    """Run one job with a backend of its own (in a worker process); return its result."""
    import time

    from forgetbench.backends.registry import open_backend
    from forgetbench.kl.run import draw, score_passes
    from forgetbench.prior.run import evaluate_task

    reporter = Reporter()
    with open_backend(runtime) as backend:
        if isinstance(job, EvalJob):
            return [evaluate_task(job.plan, st, backend, reporter) for st in job.plan.suite.tasks if st.name in job.tasks]
        if isinstance(job, SampleJob):
            started = time.perf_counter()
            return draw(job.plan, backend, reporter), time.perf_counter() - started
        backend.expect([job.plan.base, job.plan.ckpt])
        return score_passes(job.plan, backend, job.responses, job.cached, job.sampling_s, reporter)


@dataclass
class Graph:
    """The jobs of a sweep's checkpoints and what the driver does with each result."""

    plans: list[Any]
    """The `pipeline.score.ScorePlan` of each checkpoint (typed loosely: `score` imports this module)."""
    store: Store
    passes: dict[int, dict[str, Passes]] = field(default_factory=dict)
    """Checkpoint index → its KL passes by part (filled as score jobs finish)."""
    waiting: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    """Samples key → (checkpoint, part) whose scoring waits for those samples."""
    timings: dict[str, float] = field(default_factory=dict)
    """Job name → seconds it took in its worker (as the driver saw it)."""

    def first(self) -> list[Job]:
        """The jobs that need nothing: every missing (model, task) evaluation, each missing sample set, and
        the scoring of checkpoints whose samples are stored."""
        from forgetbench.prior.run import missing_tasks

        jobs: list[Job] = []
        seen: set[str] = set()
        for plan in self.plans:
            for ev in (plan.base, plan.ckpt, *(plan.new_task or ())):
                members: dict[str, list[str]] = {}
                for st in missing_tasks(ev, self.store):
                    if ev.keys[st.name] not in seen:
                        seen.add(ev.keys[st.name])
                        members.setdefault(st.member, []).append(st.name)
                jobs += [EvalJob(f"eval {ev.model.name} {m}", ev, tuple(names)) for m, names in members.items()]
        for i, plan in enumerate(self.plans):
            for part, kl in parts(plan.kl):
                stored = samples.cached(self.store, kl.samples_key)
                if stored is not None:
                    jobs.append(self._score(i, part, stored, True, 0.0))
                    continue
                if kl.samples_key not in self.waiting:
                    self.waiting[kl.samples_key] = []
                    jobs.append(SampleJob(f"sample {kl.sampler.name}" + ("" if part == "main" else f" ({part})"), kl))
                self.waiting[kl.samples_key].append((i, part))
        return jobs

    def _score(self, i: int, part: str, responses: list[list[int]], cached: bool, sampling_s: float) -> ScoreJob:
        kl = dict(parts(self.plans[i].kl))[part]
        name = f"kl {kl.ckpt.name}" + ("" if part == "main" else f" ({part})")
        return ScoreJob(name, kl, responses, cached, sampling_s, i, part)

    def done(self, job: Job, result: Any) -> list[Job]:
        """Keep a finished job's result (the store, or the passes); return the jobs it unblocks."""
        from forgetbench.prior.run import store_task

        if isinstance(job, EvalJob):
            for task_result in result:
                store_task(self.store, task_result)
            return []
        if isinstance(job, SampleJob):
            responses, seconds = result
            samples.put(self.store, job.plan.samples_key, responses)
            waiting = self.waiting.pop(job.plan.samples_key, [])
            # the first checkpoint to use fresh samples reports them drawn, the others as stored (as a local sweep does)
            return [self._score(i, part, responses, n > 0, seconds if n == 0 else 0.0) for n, (i, part) in enumerate(waiting)]
        self.passes.setdefault(job.index, {})[job.part] = result
        return []
