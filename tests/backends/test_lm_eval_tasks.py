"""One lm-eval task on a real lm-eval model (HFLM over a tiny model): numbers out, lm-eval's own
progress bars drawn by forgetbench's reporter, nothing printed by tqdm."""

from __future__ import annotations

from forgetbench.backends.base import TaskRequest
from forgetbench.backends.hf.backend import HFBackend
from forgetbench.core.config import Runtime
from forgetbench.core.progress import Reporter
from forgetbench.models.spec import resolve
from forgetbench.prior.run import SEEDS
from forgetbench.prior.suites import tasks_dir


class Recorder(Reporter):
    def __init__(self) -> None:
        self.steps: dict[str, list[int]] = {}

    def step(self, description: str, total: int):
        done = self.steps.setdefault(description, [total, 0])
        return lambda n: done.__setitem__(1, done[1] + n)


def test_lm_evals_bars_are_drawn_by_the_reporter(tiny_model, capfd):
    request = TaskRequest("fb_piqa_lite", str(tasks_dir()), False, 3, None, False, False, dict(SEEDS))
    recorder = Recorder()
    with HFBackend(Runtime(batch_size=4)) as backend:
        output = backend.run_task(resolve(str(tiny_model)), request, recorder)
    assert output.output_type == "multiple_choice" and len(output.samples) == 3
    assert all(s.n_choices == 2 and set(s.metrics) >= {"acc"} for s in output.samples)
    assert recorder.steps == {"fb_piqa_lite: loglikelihood requests": [6, 6]}  # 3 items × 2 choices
    assert "loglikelihood requests" not in capfd.readouterr().err  # lm-eval drew no bar of its own
