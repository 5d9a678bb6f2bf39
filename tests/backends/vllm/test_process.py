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
        p.RunTask(TaskRequest("t", "/tasks", False, 4, None, False, False, {"random_seed": 0})),
        p.Shutdown(),
        p.Ready("0.32.0"),
        p.Sampled([[5, 2]]),
        p.Logprobs([[-0.5, -1.25]], None),
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
