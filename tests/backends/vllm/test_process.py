"""The vLLM backend's parent side, which never imports vLLM: engine options and worker failures."""

from __future__ import annotations

import pytest

from forgetbench.backends.vllm import process as vllm
from forgetbench.backends.vllm.options import VLLMOptions
from forgetbench.core.errors import UserInputError

LOG = """(EngineCore pid=1) INFO starting
(Worker pid=2) ERROR [multiproc_executor.py:1063] ValueError: Available memory on node 0 (9.94/15.71 GiB) on kv cache allocation is less than requested memory for kv (-0.12/0.79 GiB).
RuntimeError: Worker failed with error 'Available memory on node 0 ...', please check the stack trace above for the root cause
RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
"""


def test_a_failed_engine_reports_its_root_cause_not_the_generic_wrapper():
    assert vllm.root_cause(LOG).startswith("ValueError: Available memory on node 0")
    assert (
        vllm.root_cause("RuntimeError: Worker failed with error 'disk full', please check the stack trace above") == "disk full"
    )
    assert vllm.root_cause("nothing wrong here") is None


def test_cpu_engine_defaults(tiny_model):
    from forgetbench.models.spec import resolve

    kwargs = vllm.engine_kwargs(resolve(str(tiny_model)), VLLMOptions(), "float32", "cpu", 300)
    assert kwargs["enforce_eager"] is True and kwargs["max_model_len"] == 300
    assert 0.05 <= kwargs["gpu_memory_utilization"] <= 0.9
    gpu = vllm.engine_kwargs(
        resolve(str(tiny_model)), VLLMOptions(tensor_parallel_size=2, enforce_eager=False), "bfloat16", "cuda", 300
    )
    assert gpu["enforce_eager"] is False and "gpu_memory_utilization" not in gpu and gpu["tensor_parallel_size"] == 2


@pytest.mark.parametrize(
    "options,needle",
    [
        ({"tensor_parallel_size": 0}, "--tensor-parallel-size"),
        ({"gpu_memory_utilization": 1.5}, "--gpu-memory-utilization"),
        ({"gpu_memory_utilization": float("nan")}, "--gpu-memory-utilization"),
        ({"max_model_len": 1}, "--max-model-len"),
        ({"max_lora_rank": 7}, "--max-lora-rank must be one of 1, 8, 16"),
        ({"full_scorer": "both"}, "--full-scorer"),
    ],
)
def test_impossible_engine_options_are_refused(options, needle):
    with pytest.raises(UserInputError, match=needle):
        VLLMOptions(**options)


def test_protocol_messages_round_trip_and_refuse_other_versions():
    """Every request and reply survives encode → decode unchanged; another protocol version, an unknown
    type or an unknown field is refused with one line."""
    import json

    from forgetbench.backends.base import SampleRecord, TaskOutput, TaskRequest
    from forgetbench.backends.vllm import protocol as p
    from forgetbench.core.errors import BackendError

    messages = [
        p.StartEngine({"model": "/m", "max_model_len": None, "enforce_eager": True}, -1, False, "auto"),
        p.Sample([[1, 2], [3]], 2, 8, [11, 12], [2]),
        p.PromptLogprobs([[1, 2, 3]], [1], p.FullRows("/tmp/x.npy", "reference")),
        p.PromptLogprobs([[1, 2, 3]], [1], p.FullRows("/tmp/x.npy", "compare", ("full", "tv"))),
        p.RunTask(TaskRequest("t", "/tasks", False, 4, None, False, False, {"random_seed": 0})),
        p.Shutdown(),
        p.Ready("0.32.0"),
        p.Sampled([[5, 2]]),
        p.Logprobs([[-0.5, -1.25]], None),
        p.Logprobs([[-0.5, -1.25]], [{"full": [0.25, float("inf")], "tv": [0.125, 1.0]}]),
        p.TaskDone(TaskOutput("t", "multiple_choice", {"acc,none": 0.5}, (SampleRecord(0, "h", "none", {"acc": 1.0}, 4),))),
        p.Failed("ValueError: no"),
        p.Progress(step="sampling", total=3),
    ]
    for message in messages:
        assert p.decode(p.encode(message)) == message
    line = json.loads(p.encode(p.Shutdown()).removeprefix(p.PREFIX))
    for bad, needle in (
        ({**line, "protocol": 99}, "version 99"),
        ({**line, "type": "Launch"}, "unknown message type"),
        ({**line, "type": "Ready", "body": {"vllm_version": "x", "gpu": 1}}, "unknown field gpu"),
    ):
        with pytest.raises(BackendError, match=needle):
            p.decode(p.PREFIX + json.dumps(bad))


def _rows(seed: int, tokens: int, vocab: int):
    """[tokens × vocab] float32 log-probs, one position with a token given zero probability (-inf)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(tokens, vocab)) * 3
    logits[0, 1] = -np.inf
    return (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)


def test_the_worker_computes_every_asked_divergence_from_the_reference_rows(tmp_path):
    """The worker's `FullRows` handling without an engine: `reference` writes each sequence's rows, `compare`
    answers {name: per-token values} for exactly the names asked, equal to the shared kernel on the same rows
    (what the transformers scorer runs), sequence by sequence."""
    import torch

    from forgetbench.backends.divergences import DIVERGENCES, per_token
    from forgetbench.backends.vllm import protocol as p
    from forgetbench.backends.vllm.worker import _full_rows

    sequences, starts, vocab = [[1, 5, 6, 7], [1, 2, 8]], [1, 2], 11
    ref = [_rows(0, 3, vocab), _rows(1, 1, vocab)]
    this = [_rows(2, 3, vocab), _rows(3, 1, vocab)]
    path = str(tmp_path / "reference.npy")
    on_rows, written = _full_rows(p.FullRows(path, "reference"), sequences, starts, vocab)
    for i, rows in enumerate(ref):
        on_rows(i, rows)
    assert written == {}
    names = tuple(DIVERGENCES)
    on_rows, values = _full_rows(p.FullRows(path, "compare", names), sequences, starts, vocab)
    for i, rows in enumerate(this):
        on_rows(i, rows)
    for i in range(2):
        assert list(values[i]) == list(names)
        want = per_token(torch.from_numpy(ref[i]), torch.from_numpy(this[i]), names)
        for name in names:
            assert values[i][name] == want[name].tolist() and len(values[i][name]) == len(ref[i])
    assert values[0]["full"][0] > 0 and values[1]["tv"][0] > 0  # different rows: not vacuous


@pytest.mark.parametrize(
    "names,needle",
    [(("full", "act"), "'act' needs the models' hidden states"), ((), "at least one divergence"), (("full", "l2"), "l2")],
)
def test_the_worker_refuses_a_divergence_it_cannot_compute_before_reading_rows(tmp_path, names, needle):
    """`act` (not a function of the rows), no name, or an unregistered one: refused before the engine runs."""
    from forgetbench.backends.vllm import protocol as p
    from forgetbench.backends.vllm.worker import _full_rows

    with pytest.raises(ValueError, match=needle):
        _full_rows(p.FullRows(str(tmp_path / "r.npy"), "compare", names), [[1, 2]], [1], 5)
