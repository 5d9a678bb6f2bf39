"""Running a sweep's jobs (`pipeline.jobs`) on a Ray cluster (`--executor ray`).

The driver submits every job that needs nothing, then each checkpoint's KL scoring as its samples
arrive; results come back to the driver, which writes the store (so workers need no shared filesystem).
Each job asks for what it uses: one GPU per job on a GPU cluster (a vLLM job with tensor parallelism,
that many), one CPU on CPU. Ray re-runs a job whose worker died (`MAX_RETRIES`); an exception inside a
job stops the sweep with one line naming the job (finished results are already in the store); Ctrl-C
cancels the outstanding jobs. Without Ray installed, `--executor ray` is exit 2 with the install line.

Ray starts a local cluster when neither `--ray-address` nor `RAY_ADDRESS` names one (and stops it at
the end); a given cluster's workers must have forgetbench and its dependencies installed.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from forgetbench.core.errors import BackendError, BackendUnavailable, ForgetbenchError, Interrupted
from forgetbench.core.progress import Reporter
from forgetbench.pipeline.jobs import Graph, Job, run_job

if TYPE_CHECKING:
    from forgetbench.core.config import Runtime

MAX_RETRIES = 3
"""Times Ray re-runs a job whose worker process died (a killed or crashed worker, a lost node)."""
INSTALL = "pip install 'forgetbench[ray]'"


def _job(job: Job, runtime: Runtime) -> Any:
    """A job in a Ray worker (a module-level function, so workers import it by name)."""
    return run_job(job, runtime)


def ray_module() -> Any:
    """The `ray` module, or exit 2 with the install line."""
    try:
        import ray
    except ImportError:
        raise BackendUnavailable(f"--executor ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


def resources(runtime: Runtime, cluster_gpus: float) -> dict[str, float]:
    """What one job asks Ray for: GPUs on a GPU run (`--device cuda`, or `auto` on a cluster with GPUs), one
    per job or what the backend's options hold (vLLM: `--tensor-parallel-size`); else one CPU."""
    from forgetbench.backends.registry import options_of

    gpu = runtime.device == "cuda" or (runtime.device == "auto" and cluster_gpus > 0)
    if not gpu:
        return {"num_cpus": 1, "num_gpus": 0}
    per_job = options_of(runtime).gpus_per_job()
    return {"num_cpus": 1, "num_gpus": per_job}


def _failure(ray: Any, job: Job, exc: BaseException) -> ForgetbenchError:
    """One line naming the job, with the exit code of the error inside it."""
    cause = getattr(exc, "cause", None) if isinstance(exc, ray.exceptions.RayTaskError) else None
    if isinstance(cause, ForgetbenchError):
        err = ForgetbenchError(f"{job.name}: {cause}")
        err.exit_code = cause.exit_code
        return err
    if cause is not None:
        return BackendError(f"{job.name}: {type(cause).__name__}: {cause}")
    if isinstance(exc, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError)):
        return BackendError(f"{job.name}: its Ray worker died {MAX_RETRIES + 1} times")
    return BackendError(f"{job.name}: {type(exc).__name__}: {exc}")


class RayExecutor:
    """Jobs as Ray tasks on the cluster at `address` (`RAY_ADDRESS`; a local cluster when neither)."""

    def __init__(self, runtime: Runtime, address: str | None = None) -> None:
        self.ray = ray_module()
        self.runtime = runtime
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self._started = False

    def __enter__(self) -> RayExecutor:
        import logging

        if not self.ray.is_initialized():
            self.ray.init(address=self.address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
                          configure_logging=False)  # fmt: skip
            self._started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self.ray.shutdown()

    def run(self, graph: Graph, reporter: Reporter) -> None:
        """Run every job of `graph`, handing each result to it as it arrives."""
        ray = self.ray
        remote = ray.remote(_job)
        ask = resources(self.runtime, float(ray.cluster_resources().get("GPU", 0)))
        pending: dict[Any, tuple[Job, float]] = {}

        def submit(job: Job) -> None:
            options = {**ask, "max_retries": MAX_RETRIES, "name": job.name}
            pending[remote.options(**options).remote(job, self.runtime)] = (job, time.perf_counter())

        first = graph.first()
        total = len(first) + sum(len(v) for v in graph.waiting.values())
        reporter.message(f"{total} jobs on Ray ({', '.join(f'{k[4:]} {v:g}' for k, v in ask.items() if v)} each)")
        advance = reporter.step("jobs", total)
        for job in first:
            submit(job)
        interrupted: list[int] = []
        previous = _on_interrupt(lambda signum, frame: interrupted.append(signum))  # not raised inside Ray's C code
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                if interrupted:
                    raise Interrupted("interrupted: the outstanding Ray jobs were cancelled; finished ones are in the store")
                if not ready:
                    continue
                job, started = pending.pop(ready[0])
                ref = ready[0]
                try:
                    result = ray.get(ref)
                except Exception as exc:
                    raise _failure(ray, job, exc) from None
                graph.timings[job.name] = time.perf_counter() - started
                for follow in graph.done(job, result):
                    submit(follow)
                advance(1)
        finally:
            _on_interrupt(previous)
            for ref in pending:  # an error or Ctrl-C: nothing keeps running on the cluster
                ray.cancel(ref, force=True)
            reporter.close()


def _on_interrupt(handler: Any) -> Any:
    """Install `handler` for SIGINT (in the main thread; elsewhere nothing changes); return the previous one."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return handler
    return signal.signal(signal.SIGINT, handler)
