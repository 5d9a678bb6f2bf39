"""Cost of `ForgettingCallback` (forgetbench.integrations.transformers), measured in one run.

    .venv/bin/python benchmarks/callback_bench.py [MODEL] [--steps=50] [--prompts=64] [--tokens=64]   # default smollm2-135m

Prints two ratios (goals from issue 29):
- **measurement ÷ kl pass**: one measurement (the training model's body over the tokens, every per-token
  divergence against the cached base side: its hidden states, `base_cache="hidden"`, or its log-probs too,
  `"logprobs"`) divided by the scoring pass `forgetbench kl` runs on the same tokens (both models), run in
  alternation so that background load falls on all alike (goal ≤ 0.6), and whether the numbers are bit-identical;
- **step time with ÷ without**: STEPS full-weight training steps of MODEL (batch 8 × 256 tokens, transformers'
  `Trainer`, lr 1e-5) with the callback measuring at the last step, divided by the same steps without it (goal
  ≤ 1.10). The base's samples are drawn once before either run (forgetbench's store), as a second run of a
  training script finds them; the callback's one-time set-up (loading the base, its hidden states) is inside
  the timed run.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path


def _flag(name: str, default: int) -> int:
    return next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith(f"--{name}=")), default)


def measurement_ratio(spec: str, prompts: int, tokens: int, repeats: int = 3) -> None:
    import torch

    from forgetbench.backends.divergences import every_name
    from forgetbench.backends.hf import scorer
    from forgetbench.models.spec import resolve

    model = resolve(spec)
    p = scorer.load_model(model, "cpu", "float32")
    q = scorer.load_model(model, "cpu", "float32")  # a second copy: the model in training
    gen = torch.Generator().manual_seed(0)
    vocab = p.config.vocab_size
    seqs = [
        (torch.randint(0, vocab, (48,), generator=gen).tolist(), torch.randint(0, vocab, (tokens,), generator=gen).tolist())
        for _ in range(prompts)
    ]
    names = every_name()
    sides = {how: scorer.base_side(p, seqs, 0, 8, log_probs=how == "logprobs") for how in ("hidden", "logprobs")}
    times: dict[str, list[float]] = {"kl": [], "hidden": [], "logprobs": []}
    same = True
    for _ in range(repeats):
        t0 = time.perf_counter()
        a = scorer.score(p, q, seqs, 0, batch_size=8, divergences=names)
        times["kl"].append(time.perf_counter() - t0)
        for how, side in sides.items():
            t0 = time.perf_counter()
            b = scorer.score(p, q, seqs, 0, batch_size=8, divergences=names, p_side=side)
            times[how].append(time.perf_counter() - t0)
            same &= all((x.kl == y.kl).all() and (x.logp == y.logp).all() for x, y in zip(a, b))
    kl = statistics.median(times["kl"])
    mib = sum(s.logp.numel() for s in sides["logprobs"] if s.logp is not None) * 4 / 2**20
    print(f"{spec}: {prompts} sequences × {tokens} response tokens; the kl pass {kl:.2f} s; bit-identical numbers: {same}")
    for how in ("hidden", "logprobs"):
        m = statistics.median(times[how])
        extra = f" (cache {mib:.0f} MiB)" if how == "logprobs" else ""
        print(f"  one measurement, base_cache={how}{extra}: {m:.2f} s, ratio {m / kl:.2f} (goal ≤ 0.6)", flush=True)


def step_ratio(spec: str, steps: int, prompts: int, tokens: int) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    from forgetbench.integrations.transformers import ForgettingCallback
    from forgetbench.models.spec import resolve

    path = resolve(spec).path
    gen = torch.Generator().manual_seed(1)
    data = Dataset.from_list(
        [{"input_ids": (ids := torch.randint(0, 49152, (256,), generator=gen).tolist()), "labels": ids} for _ in range(8 * steps)]
    )
    tmp = Path(tempfile.mkdtemp(prefix="fb-callback-bench-"))
    prompt_file = tmp / "prompts.jsonl"
    prompt_file.write_text("".join(f'{{"prompt": "Question {i}: what is {i} plus {i + 1}?"}}\n' for i in range(prompts)))
    store = tmp / "store"

    def run(with_callback: bool) -> float:
        args = TrainingArguments(
            output_dir=str(tmp / f"out-{with_callback}"), max_steps=steps, per_device_train_batch_size=8, learning_rate=1e-5,
            report_to="none", save_strategy="no", use_cpu=True, seed=0, logging_steps=steps,
        )  # fmt: skip
        trainer = Trainer(model=AutoModelForCausalLM.from_pretrained(path), args=args, train_dataset=data)
        if with_callback:
            cb = ForgettingCallback(
                trainer, spec, str(prompt_file), every_n_steps=steps, n_prompts=prompts, max_new_tokens=tokens, store=store
            )
            trainer.add_callback(cb)
        t0 = time.perf_counter()
        trainer.train()
        return time.perf_counter() - t0

    # the base's samples once, into the store (as a second run of a training script finds them)
    warm = ForgettingCallback(None, spec, str(prompt_file), n_prompts=prompts, max_new_tokens=tokens, store=store)
    warm.measure(AutoModelForCausalLM.from_pretrained(path))
    without = run(False)
    with_cb = run(True)
    print(
        f"{spec}: {steps} training steps (8 × 256 tokens): {without:.1f} s without the callback, {with_cb:.1f} s with it "
        f"measuring once ({prompts} prompts × {tokens} tokens): ratio {with_cb / without:.3f} (goal ≤ 1.10)",
        flush=True,
    )


def main() -> None:
    spec = next((a for a in sys.argv[1:] if not a.startswith("--")), "smollm2-135m")
    prompts, tokens = _flag("prompts", 64), _flag("tokens", 64)
    measurement_ratio(spec, prompts, tokens)
    step_ratio(spec, _flag("steps", 50), prompts, tokens)


if __name__ == "__main__":
    main()
