"""Shared fixtures. Tests never touch the network or the user's forgetbench home."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Embedded models are materialised once per test session in a temporary home that is removed when the
# session ends, or in FORGETBENCH_TEST_HOME when set (kept: CI and developers reuse it between runs).
# Results stores are always per-test.
_OWN_HOME = None if os.environ.get("FORGETBENCH_TEST_HOME") else tempfile.mkdtemp(prefix="fb-home-")
os.environ["FORGETBENCH_HOME"] = os.environ.get("FORGETBENCH_TEST_HOME") or str(_OWN_HOME)

from forgetbench.core.store import Store  # noqa: E402  (after FORGETBENCH_HOME is set)
from tests.tiny import make_tiny_model  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    """Remove the session's own temporary home (never FORGETBENCH_TEST_HOME)."""
    if _OWN_HOME is not None:
        shutil.rmtree(_OWN_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama folder (read-only by convention: copy it before changing it)."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def memorised_models(tmp_path_factory) -> dict[str, Path]:
    """Tiny models that memorised 30 PIQA and 30 OpenBookQA items: base, damaged, barely changed."""
    from tests.memorised import make_models

    return make_models(tmp_path_factory.mktemp("mem"))


@pytest.fixture(scope="session")
def score_runs(memorised_models, tmp_path_factory):
    """Run folders of `score` (suite `mem`: PIQA and OpenBookQA, 30 items each) for the barely changed and
    the damaged checkpoint, with the prompts, tasks folder and store they were made with."""
    import shutil

    from forgetbench.core.config import ScoreConfig
    from forgetbench.core.store import Store
    from forgetbench.pipeline.score import score
    from forgetbench.prior.suites import tasks_dir
    from tests.memorised import LIMIT, write_prompts

    root = tmp_path_factory.mktemp("gate")
    shutil.copytree(tasks_dir() / "offline", root / "tasks" / "offline")
    (root / "tasks" / "offline" / "_suite_mem.yaml").write_text(
        "group: mem\ntask: [fb_piqa_lite, fb_openbookqa_lite]\n"
        "metadata: {forgetbench_suite: true, description: test suite, primary_metric: {fb_piqa_lite: acc, fb_openbookqa_lite: acc}}\n"
    )
    old = os.environ.get("FORGETBENCH_TASKS_DIR")
    os.environ["FORGETBENCH_TASKS_DIR"] = str(root / "tasks")
    try:
        prompts = write_prompts(root / "prompts.jsonl")
        out = {}
        for ckpt in ("barely", "damaged"):
            config = ScoreConfig.build(
                str(memorised_models["base"]),
                str(memorised_models[ckpt]),
                str(prompts),
                suite="mem",
                limit=LIMIT,
                n_prompts=4,
                max_new_tokens=8,
                batch_size=8,
                noise_floor_prompts=0,
            )
            score(config, store=Store(root / "store"), out=root / ckpt)
            out[ckpt] = root / ckpt
        out["prompts"], out["base"], out["damaged_model"] = prompts, memorised_models["base"], memorised_models["damaged"]
        out["tasks"], out["store"] = root / "tasks", root / "store"
    finally:  # restored before other tests run: the `mem` suite exists only while the runs are made
        if old is None:
            os.environ.pop("FORGETBENCH_TASKS_DIR", None)
        else:
            os.environ["FORGETBENCH_TASKS_DIR"] = old
    return out


@pytest.fixture
def tiny_copy(tiny_model, tmp_path) -> Path:
    """A private, writable copy of the tiny model."""
    return Path(shutil.copytree(tiny_model, tmp_path / "tiny-copy"))


@pytest.fixture
def store(tmp_path) -> Store:
    """An empty results store."""
    return Store(tmp_path / "store")


@pytest.fixture
def custom_suites(tmp_path, monkeypatch):
    """A copy of tasks/ (via FORGETBENCH_TASKS_DIR) to which tests add suites: `add(name, tasks)`."""
    from forgetbench.prior.suites import tasks_dir

    root = tmp_path / "tasks"
    shutil.copytree(tasks_dir() / "offline", root / "offline")
    monkeypatch.setenv("FORGETBENCH_TASKS_DIR", str(root))

    def add(name: str, tasks: dict[str, str]) -> str:
        (root / "offline" / f"_suite_{name}.yaml").write_text(
            f"group: {name}\ntask: [{', '.join(tasks)}]\n"
            f"metadata: {{forgetbench_suite: true, description: test suite, primary_metric: "
            f"{{{', '.join(f'{t}: {m}' for t, m in tasks.items())}}}}}\n"
        )
        return name

    return add
