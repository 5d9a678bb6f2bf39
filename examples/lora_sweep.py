"""A real LoRA training run of SmolLM2-135M, swept: every checkpoint against the base.

    .venv/bin/python examples/lora_sweep.py [--out runs/lora-sweep] [--store DIR]

Trains (once; cached under $FORGETBENCH_HOME/models/) a rank-8 LoRA on the reference answers of
ASDiv's even-position problems — 8 steps of 4 examples at lr 2e-3, a `checkpoint-<step>` adapter
folder every 2 steps, as transformers' Trainer leaves them — then runs

    forgetbench sweep smollm2-135m RUN --new-task fb_asdiv_heldout_lite --suite offline-lite-no-asdiv \
        --n-prompts 32 --max-new-tokens 64 --noise-floor-prompts 8

(the demo's settings) through the Python API and prints the trajectory table. Rerunning it does
nothing new: the sweep folder and the store already hold every checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from forgetbench.core.config import ScoreConfig
from forgetbench.core.home import default_store_dir
from forgetbench.core.progress import Reporter
from forgetbench.core.store import Store
from forgetbench.pipeline.demo import BASE, ensure_lora_run
from forgetbench.pipeline.sweep import sweep
from forgetbench.report.trajectory import to_markdown


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("runs/lora-sweep"))
    ap.add_argument("--store", type=Path, default=None)
    args = ap.parse_args()
    run = ensure_lora_run(Reporter())
    config = ScoreConfig.build(BASE, BASE, "task:fb_asdiv_heldout_lite", suite="offline-lite-no-asdiv", n_prompts=32,
                               max_new_tokens=64, noise_floor_prompts=8, seed=0)  # fmt: skip
    outcome = sweep(config, [str(run)], store=Store(args.store or default_store_dir()), out=args.out)
    print(to_markdown(outcome.points))
    assert outcome.usage is not None
    loads = ", ".join(f"{k} ×{v}" for k, v in outcome.usage.loads.items()) or "none (all from the store)"
    print(f"model loads: {loads}; vLLM engines started: {outcome.usage.engines}")
    print(f"wrote {', '.join(str(f) for f in outcome.files)}")


if __name__ == "__main__":
    main()
