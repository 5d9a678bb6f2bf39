"""forgetbench: what did this fine-tune cost the model?

Measures retention on prior-capability benchmarks (through lm-evaluation-harness) and the KL
divergence between a base model and a fine-tuned checkpoint on new-task prompts (RL's Razor), gates
releases on them and publishes leaderboards. This module is the public API: everything the command
line does, a Python caller does through these names (imported lazily, so `import forgetbench` is cheap)::

    import forgetbench as fb
    config = fb.ScoreConfig.build("smollm2-135m", "path/to/ckpt", "task:fb_asdiv_heldout_lite")
    outcome = fb.score(config, store=fb.Store(fb.default_store_dir()), out="runs/mine", gate="policy.toml")
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import Any

__version__ = version("forgetbench")
"""The installed distribution's version: pyproject.toml is its one source."""

_API = {
    # jobs
    "score": "forgetbench.pipeline.score:score",
    "compute_score": "forgetbench.pipeline.score:compute_score",
    "measure_kl": "forgetbench.pipeline.kl:measure_kl",
    "run_kl": "forgetbench.pipeline.kl:run_kl",
    "evaluate": "forgetbench.prior.run:evaluate",
    "gate_run": "forgetbench.pipeline.gate:gate_run",
    "decide": "forgetbench.gate.decide:decide",
    "load_policy": "forgetbench.gate.policy:load_policy",
    "run_demo": "forgetbench.pipeline.demo:run_demo",
    "compare": "forgetbench.pipeline.compare:compare",
    "compute_compare": "forgetbench.pipeline.compare:compute_compare",
    "sweep": "forgetbench.pipeline.sweep:sweep",
    "collect": "forgetbench.pipeline.sweep:collect",
    "report_page": "forgetbench.pipeline.view:report_page",
    # results
    "load_report": "forgetbench.runs:load_report",
    "load_kl": "forgetbench.runs:load_kl",
    "ScoreReport": "forgetbench.core.results:ScoreReport",
    "KLResult": "forgetbench.core.results:KLResult",
    "EvalResult": "forgetbench.core.results:EvalResult",
    "GateVerdict": "forgetbench.core.results:GateVerdict",
    "ScoreOutcome": "forgetbench.pipeline.score:ScoreOutcome",
    "SweepOutcome": "forgetbench.pipeline.sweep:SweepOutcome",
    # configs
    "EvalConfig": "forgetbench.core.config:EvalConfig",
    "KLConfig": "forgetbench.core.config:KLConfig",
    "ScoreConfig": "forgetbench.core.config:ScoreConfig",
    "CompareConfig": "forgetbench.core.config:CompareConfig",
    "Runtime": "forgetbench.core.config:Runtime",
    "VLLMOptions": "forgetbench.backends.vllm.options:VLLMOptions",
    "GatePolicy": "forgetbench.gate.policy:GatePolicy",
    "DEFAULTS": "forgetbench.core.config:DEFAULTS",
    # plumbing a caller needs
    "Store": "forgetbench.core.store:Store",
    "default_store_dir": "forgetbench.core.home:default_store_dir",
    "Reporter": "forgetbench.core.progress:Reporter",
    "ForgetbenchError": "forgetbench.core.errors:ForgetbenchError",
    "UserInputError": "forgetbench.core.errors:UserInputError",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'forgetbench' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
