"""The vLLM backend's parent side, which never imports vLLM: engine options and worker failures."""

from __future__ import annotations

import pytest

from forgetbench.backends import vllm
from forgetbench.config import VLLMOptions
from forgetbench.errors import UserInputError

LOG = """(EngineCore pid=1) INFO starting
(Worker pid=2) ERROR [multiproc_executor.py:1063] ValueError: Available memory on node 0 (9.94/15.71 GiB) on kv cache allocation is less than requested memory for kv (-0.12/0.79 GiB).
RuntimeError: Worker failed with error 'Available memory on node 0 ...', please check the stack trace above for the root cause
RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
"""


def test_a_failed_engine_reports_its_root_cause_not_the_generic_wrapper():
    assert vllm.root_cause(LOG).startswith("ValueError: Available memory on node 0")
    assert vllm.root_cause("RuntimeError: Worker failed with error 'disk full', please check the stack trace above") == "disk full"
    assert vllm.root_cause("nothing wrong here") is None


def test_cpu_engine_defaults(tiny_model):
    from forgetbench.models import resolve

    kwargs = vllm.engine_kwargs(resolve(str(tiny_model)), VLLMOptions(), "float32", "cpu", 300)
    assert kwargs["enforce_eager"] is True and kwargs["max_model_len"] == 300
    assert 0.05 <= kwargs["gpu_memory_utilization"] <= 0.9
    gpu = vllm.engine_kwargs(resolve(str(tiny_model)), VLLMOptions(tensor_parallel_size=2, enforce_eager=False), "bfloat16", "cuda", 300)
    assert gpu["enforce_eager"] is False and "gpu_memory_utilization" not in gpu and gpu["tensor_parallel_size"] == 2


@pytest.mark.parametrize("options,needle", [
    (VLLMOptions(tensor_parallel_size=0), "--tensor-parallel-size"),
    (VLLMOptions(gpu_memory_utilization=1.5), "--gpu-memory-utilization"),
    (VLLMOptions(max_model_len=1), "--max-model-len"),
])
def test_impossible_engine_options_are_refused(options, needle):
    with pytest.raises(UserInputError, match=needle):
        vllm.check_options(options)
