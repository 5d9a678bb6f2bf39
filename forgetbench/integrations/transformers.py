"""`ForgettingCallback`: forgetbench's KL from the base, measured while a transformers `Trainer` (or TRL's
`SFTTrainer`, `GRPOTrainer`: they subclass it) trains, logged through the trainer's own `log`.

At the start of training the callback plans a `forgetbench kl BASE …` measurement (the same prompts, rendering,
seed and samples: the base's responses come from forgetbench's store when `kl` or `sweep` drew them before,
and go into it otherwise) and runs the base's transformer body over those tokens once, keeping its final hidden
states. Every `every_n_steps` steps it runs the model being trained over the same tokens and computes every
per-token divergence against the cached base side (`backends.hf.scorer.score` with `p_hidden`): the value
at step k is the one `forgetbench kl BASE CHECKPOINT-k` gives for the checkpoint saved at step k. The numbers
go to `trainer.log`, so whatever `report_to` the trainer has (TensorBoard, W&B, MLflow, ...) receives them.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from transformers import TrainerCallback

from forgetbench.backends.hf import scorer
from forgetbench.backends.hf.backend import HFBackend
from forgetbench.core.config import KLConfig, Runtime, new_task_source
from forgetbench.core.errors import UserInputError
from forgetbench.core.home import default_store_dir
from forgetbench.core.progress import Reporter
from forgetbench.core.store import Store
from forgetbench.kl.run import Passes, divergences_of, responses_of, summarise
from forgetbench.pipeline.kl import plan_kl

PREFIX = "forgetbench/"
log = logging.getLogger("forgetbench")


class ForgettingCallback(TrainerCallback):
    """Measure the forward KL (and every per-token predictor of forgetting) of the model in training against
    its frozen base on new-task prompts, every `every_n_steps` steps, and log it through `trainer.log`:
    `forgetbench/kl_forward` with `_low` / `_high` (its 95% CI over prompts), and `forgetbench/<predictor>`
    (`tv_new`, `js_new`, `kl_reverse_tok_new`, `act_new`) with theirs.

    `trainer`: the trainer to log through (`trainer.add_callback(ForgettingCallback(trainer, ...))`, as TRL's
    own callbacks are added). `base`: the base's spec (an embedded name, a folder, a hub id), the model the
    run started from. `prompts`: the new task, as `--new-task` takes it (a prompts file, or `task:NAME`).
    The other settings are `forgetbench kl`'s, with its defaults: give the same ones to `kl` to reproduce a
    logged value from a saved checkpoint.

    `kl_budget`: stop training (`should_training_stop`) at the first measurement whose KL lower bound exceeds
    it, saying so in the log (`forgetbench/budget_exceeded` = 1 and a warning); with `save_on_budget`, save a
    checkpoint there too. Only the main process measures (the others log nothing).

    `base_cache`: what of the base's side is kept between measurements: its final hidden states (`hidden`:
    small; each measurement still applies the base's output head), or its float32 log-probs at every response
    position too (`logprobs`: responses × vocabulary × 4 bytes, e.g. 805 MiB for 64 × 64 tokens of a 49k
    vocabulary; a measurement is then one forward of the model in training). `auto` (default) keeps the
    log-probs when they fit in `base_cache_bytes` (1 GiB) and says which it chose in the log."""

    def __init__(
        self,
        trainer: Any,
        base: str | Path,
        prompts: str | Path,
        *,
        every_n_steps: int = 50,
        n_prompts: int = 64,
        max_new_tokens: int = 64,
        seed: int = 0,
        chat_template: bool = True,
        prompt_field: str = "prompt",
        batch_size: int = 16,
        kl_budget: float | None = None,
        save_on_budget: bool = False,
        store: str | Path | None = None,
        base_cache: Literal["auto", "hidden", "logprobs"] = "auto",
        base_cache_bytes: int = 2**30,
    ) -> None:
        if every_n_steps < 1:
            raise UserInputError(f"every_n_steps must be at least 1, not {every_n_steps}")
        if kl_budget is not None and not kl_budget >= 0:
            raise UserInputError(f"kl_budget must be a number ≥ 0, not {kl_budget}")
        if base_cache not in ("auto", "hidden", "logprobs"):
            raise UserInputError(f"base_cache must be auto, hidden or logprobs, not {base_cache!r}")
        self.base_cache, self.base_cache_bytes = base_cache, base_cache_bytes
        self.trainer = trainer
        self.every_n_steps = every_n_steps
        self.kl_budget = kl_budget
        self.save_on_budget = save_on_budget
        self.store = Store(Path(store) if store is not None else default_store_dir())
        self.config = KLConfig(
            base=str(base), ckpt=str(base), **new_task_source(str(prompts)), prompt_field=prompt_field, n_prompts=n_prompts,
            max_new_tokens=max_new_tokens, seed=seed, chat_template=chat_template, noise_floor_prompts=0,
            weight_distance=False, runtime=Runtime(batch_size=batch_size),
        )  # fmt: skip
        self.history: list[dict[str, float]] = []
        """Every measurement logged: the step and the logged values."""
        self.stopped_at: int | None = None
        """The step at which the budget stopped training, if it did."""
        self._ready: dict[str, Any] | None = None

    # --- the base side, once --------------------------------------------------------------------------

    def _prepare(self, model: Any) -> dict[str, Any]:
        device = str(next(model.parameters()).device)
        runtime = replace(self.config.runtime, device="cuda" if device.startswith("cuda") else "cpu")
        config = replace(self.config, runtime=runtime)
        backend = HFBackend(runtime)
        reporter = Reporter()
        plan = plan_kl(config, self.store, backend, reporter)
        responses, cached, _ = responses_of(plan, backend, self.store, reporter)
        base_lm = backend.model(plan.sampler, reporter)
        if base_lm is model:
            raise UserInputError("the base must be a separate, frozen model, not the one being trained")
        sequences = list(zip(plan.expanded, responses))
        batch = max(1, runtime.batch_size // 2)  # as `kl` scores: the same batches, so the same numbers
        need = sum(
            min(batch, len(sequences) - s) * max(len(r) for _, r in sequences[s : s + batch])
            for s in range(0, len(sequences), batch)
        ) * base_lm.config.vocab_size * 4  # fmt: skip
        log_probs = self.base_cache == "logprobs" or (self.base_cache == "auto" and need <= self.base_cache_bytes)
        t0 = time.perf_counter()
        side = scorer.base_side(base_lm, sequences, plan.sampling.pad_id, batch, log_probs=log_probs)
        log.info(
            "forgetbench: the base's %s for %d sequences cached in %.1f s (%s)",
            "hidden states and log-probs" if log_probs else "hidden states", len(sequences), time.perf_counter() - t0,
            f"{need / 2**20:.0f} MiB of log-probs" if log_probs else f"log-probs would take {need / 2**20:.0f} MiB",
        )  # fmt: skip
        return {
            "plan": plan, "backend": backend, "responses": responses, "cached": cached, "base": base_lm,
            "sequences": sequences, "batch": batch, "side": side,
        }  # fmt: skip

    # --- one measurement ----------------------------------------------------------------------------

    def measure(self, model: Any) -> dict[str, float]:
        """The logged values for `model` now (its train/eval mode is restored afterwards)."""
        if self._ready is None:
            self._ready = self._prepare(model)
        r = self._ready
        plan = r["plan"]
        was_training = model.training
        model.eval()
        t0 = time.perf_counter()
        try:
            scores = scorer.score(
                r["base"], model, r["sequences"], plan.sampling.pad_id, batch_size=r["batch"],
                divergences=divergences_of(plan), p_side=r["side"],
            )  # fmt: skip
        finally:
            model.train(was_training)
        elapsed = time.perf_counter() - t0
        timings = {"sampling_s": 0.0, "scoring_s": elapsed, "noise_floor_s": 0.0}
        result = summarise(plan, Passes(r["responses"], r["cached"], scores, [], timings), r["backend"], elapsed).result
        head = result.headline_estimate
        values = {"kl_forward": head.mean, "kl_forward_low": head.ci_low, "kl_forward_high": head.ci_high}
        for p in result.predictors:
            if p.name != "kl_forward_new":
                values |= {p.name: p.value, f"{p.name}_low": p.ci_low, f"{p.name}_high": p.ci_high}
        values["seconds"] = elapsed
        return {PREFIX + k: float(v) for k, v in values.items() if not math.isnan(v)}

    # --- TrainerCallback ------------------------------------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and model is not None and self._ready is None:
            self._ready = self._prepare(model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero or model is None or state.global_step % self.every_n_steps:
            return control
        values = self.measure(model)
        low = values[PREFIX + "kl_forward_low"]
        over = self.kl_budget is not None and low > self.kl_budget
        if over:
            values[PREFIX + "budget_exceeded"] = 1.0
        self.trainer.log(dict(values))
        self.history.append({"step": state.global_step, **values})
        if over:
            self.stopped_at = state.global_step
            log.warning(
                "forgetbench: stopping at step %d: the forward KL's 95%% lower bound %.4g exceeds the budget %.4g (estimate %.4g)",
                state.global_step, low, self.kl_budget, values[PREFIX + "kl_forward"],
            )  # fmt: skip
            control.should_training_stop = True
            if self.save_on_budget:
                control.should_save = True
        return control
