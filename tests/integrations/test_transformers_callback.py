"""`ForgettingCallback` in a real transformers `Trainer` on a tiny model: what it logs reaches TensorBoard's event
files at the right steps, each value equals `forgetbench kl` on the checkpoint saved at that step, and a KL budget
stops training at the first measurement whose lower bound exceeds it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.command import fb_json
from tests.tiny import CORPUS

pytest.importorskip("tensorboard", reason="the test reads the event files back with tensorboard: pip install tensorboard")

N_PROMPTS, TOKENS, EVERY = 6, 8, 2


def _prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in CORPUS[:N_PROMPTS]))
    return path


def _train(base: Path, prompts: Path, out: Path, store: Path, steps: int = 6, **callback):
    """A real Trainer run (full weights, lr 1e-2: the tiny model moves) with the callback every EVERY steps."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from forgetbench.integrations.transformers import ForgettingCallback

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(base)
    data = Dataset.from_list([tok(t) for t in CORPUS[:24]])
    args = TrainingArguments(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=4, learning_rate=1e-2, save_steps=EVERY,
        logging_steps=1, report_to="tensorboard", use_cpu=True, seed=0, save_only_model=True,  # events under OUT/runs
    )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(base)
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=DataCollatorForLanguageModeling(tok, mlm=False))
    cb = ForgettingCallback(
        trainer, base, prompts, every_n_steps=EVERY, n_prompts=N_PROMPTS, max_new_tokens=TOKENS, store=store, **callback
    )
    trainer.add_callback(cb)
    trainer.train()
    return trainer, cb


def _scalars(folder: Path, tag: str) -> dict[int, float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values: dict[int, float] = {}
    for events in folder.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events.parent))
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            values |= {e.step: e.value for e in acc.Scalars(tag)}
    return values


@pytest.fixture(scope="module")
def run(tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("callback")
    base = Path(shutil.copytree(tiny_model, tmp / "base"))
    prompts = _prompts(tmp)
    trainer, cb = _train(base, prompts, tmp / "out", tmp / "store")
    return base, prompts, tmp, trainer, cb


def test_the_logged_kl_reaches_tensorboard_at_every_measured_step(run):
    _, _, tmp, trainer, cb = run
    logged = _scalars(tmp / "out" / "runs", "train/forgetbench/kl_forward")  # the trainer prefixes train/
    assert sorted(logged) == [2, 4, 6]
    assert [h["step"] for h in cb.history] == [2, 4, 6]
    for h in cb.history:
        assert logged[h["step"]] == pytest.approx(h["forgetbench/kl_forward"], rel=1e-6)  # float32 in the event file
        assert h["forgetbench/kl_forward_low"] <= h["forgetbench/kl_forward"] <= h["forgetbench/kl_forward_high"]
        for name in ("tv_new", "js_new", "kl_reverse_tok_new", "act_new"):
            assert f"forgetbench/{name}" in h
    assert all(h["forgetbench/kl_forward"] > 0 for h in cb.history)
    assert set(_scalars(tmp / "out" / "runs", "train/forgetbench/tv_new")) == {2, 4, 6}
    # the trainer's own history has them too (every report_to reads the same `log` call)
    assert sum("forgetbench/kl_forward" in h for h in trainer.state.log_history) == 3


def test_each_logged_value_equals_forgetbench_kl_on_the_checkpoint_saved_at_that_step(run):
    base, prompts, tmp, _, cb = run
    for h in cb.history:
        ckpt = tmp / "out" / f"checkpoint-{h['step']}"
        out = fb_json(
            "kl", str(base), str(ckpt), "--prompts", str(prompts), "--n-prompts", str(N_PROMPTS), "--max-new-tokens",
            str(TOKENS), "--noise-floor-prompts", "0", "--store", str(tmp / "store"), "--out", str(tmp / f"kl-{h['step']}"),
        )  # fmt: skip
        full = next(e for e in out["estimates"] if e["name"] == "full")
        assert out["samples_cached"] is True  # the callback's base samples, from the same store entry
        assert abs(full["mean"] - h["forgetbench/kl_forward"]) <= 1e-5
        tv = next(p for p in out["predictors"] if p["name"] == "tv_new")
        assert abs(tv["value"] - h["forgetbench/tv_new"]) <= 1e-5


def test_a_budget_stops_training_at_the_first_measurement_whose_lower_bound_exceeds_it(run, tmp_path):
    base, prompts, _, _, free = run
    lows = {h["step"]: h["forgetbench/kl_forward_low"] for h in free.history}
    budget = lows[2]  # step 2 is not above it (equal), so training goes on until a later lower bound exceeds it
    expected = next((s for s in (4, 6) if lows[s] > budget), None)
    assert expected is not None, f"the unbudgeted run's lower bounds never rose above step 2's: {lows}"
    trainer, cb = _train(base, prompts, tmp_path / "out", tmp_path / "store", kl_budget=budget, save_on_budget=True)
    assert cb.stopped_at == expected and trainer.state.global_step == expected
    assert [h["step"] for h in cb.history] == [s for s in (2, 4, 6) if s <= expected]
    assert cb.history[-1]["forgetbench/budget_exceeded"] == 1.0
    assert (tmp_path / "out" / f"checkpoint-{expected}").is_dir()


def test_bad_settings_are_refused_before_training(tiny_model, tmp_path):
    from forgetbench.core.errors import UserInputError
    from forgetbench.integrations.transformers import ForgettingCallback

    with pytest.raises(UserInputError, match="every_n_steps"):
        ForgettingCallback(None, tiny_model, "task:x", every_n_steps=0)
    with pytest.raises(UserInputError, match="kl_budget"):
        ForgettingCallback(None, tiny_model, "task:x", kl_budget=float("nan"))


def test_a_peft_model_in_training_is_measured_as_kl_measures_its_saved_adapter(tiny_model, tmp_path):
    """LoRA in training (unmerged) against `forgetbench kl` on the saved adapter (merged into the base in float32)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from forgetbench.integrations.transformers import ForgettingCallback

    base = Path(shutil.copytree(tiny_model, tmp_path / "base"))
    prompts = _prompts(tmp_path)
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(base)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), lora)
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=4, learning_rate=5e-2, save_steps=2,
        report_to="none", use_cpu=True, seed=0, save_only_model=True,
    )  # fmt: skip
    data = Dataset.from_list([tok(t) for t in CORPUS[:8]])
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=DataCollatorForLanguageModeling(tok, mlm=False))
    cb = ForgettingCallback(  # the hidden-state cache (`auto` keeps this tiny model's log-probs: the tests above)
        trainer,
        base,
        prompts,
        every_n_steps=2,
        n_prompts=N_PROMPTS,
        max_new_tokens=TOKENS,
        store=tmp_path / "s",
        base_cache="hidden",
    )
    trainer.add_callback(cb)
    trainer.train()
    model.train()
    again = cb.measure(model)  # a measurement hands the model back in the mode it found it in, and repeats exactly
    assert model.training and again["forgetbench/kl_forward"] == cb.history[0]["forgetbench/kl_forward"]
    out = fb_json(
        "kl", str(base), str(tmp_path / "out" / "checkpoint-2"), "--prompts", str(prompts), "--n-prompts", str(N_PROMPTS),
        "--max-new-tokens", str(TOKENS), "--noise-floor-prompts", "0", "--store", str(tmp_path / "s"), "--out", str(tmp_path / "kl"),
    )  # fmt: skip
    full = next(e for e in out["estimates"] if e["name"] == "full")
    assert cb.history[0]["forgetbench/kl_forward"] > 0
    assert abs(full["mean"] - cb.history[0]["forgetbench/kl_forward"]) <= 1e-5
