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
# Embedded models are materialised once per test session here (or in FORGETBENCH_TEST_HOME when set,
# so CI and developers can keep them between runs); results stores are always per-test.
os.environ["FORGETBENCH_HOME"] = os.environ.get("FORGETBENCH_TEST_HOME") or tempfile.mkdtemp(prefix="fb-home-")

from tests.tiny import make_tiny_model  # noqa: E402

from forgetbench.store import Store  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama folder (read-only by convention: copy it before changing it)."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def memorised_models(tmp_path_factory) -> dict[str, Path]:
    """Tiny models that memorised 30 PIQA and 30 OpenBookQA items: base, damaged, barely changed."""
    from tests.memorised import make_models

    return make_models(tmp_path_factory.mktemp("mem"))


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
