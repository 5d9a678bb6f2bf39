"""A small supervised fine-tune (transformers, CPU or GPU; full weights or a LoRA adapter through peft):
makes real checkpoints — one, or a training run's `checkpoint-<step>` folders — for demos, tests and
leaderboard families. Loss on the answer tokens only; prompts rendered with the chat
template when the tokenizer has one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgetbench.core.progress import Reporter


@dataclass(frozen=True)
class LoRAConfig:
    """A LoRA adapter to train instead of the full weights (peft)."""

    r: int = 8
    alpha: int = 16
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class SFTConfig:
    """Hyper-parameters of `finetune`."""

    steps: int = 40
    batch_size: int = 8
    lr: float = 5e-5
    seed: int = 0
    max_length: int = 256
    """Longest training sequence in tokens (longer examples are cut)."""
    lora: LoRAConfig | None = None
    """Train a LoRA adapter (saved as a PEFT adapter folder) instead of the full weights."""
    save_every: int | None = None
    """Also save `checkpoint-<step>` folders every this many steps (a training run, as transformers' Trainer leaves)."""


def _tokenise_pair(tok, prompt: str, answer: str, max_length: int) -> tuple[list[int], list[int]]:
    if tok.chat_template:
        head = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], tokenize=False
        )
        head_ids = tok(head, add_special_tokens=False)["input_ids"]
        ids = tok(full, add_special_tokens=False)["input_ids"]
    else:
        head_ids = tok(prompt, add_special_tokens=True)["input_ids"]
        ids = head_ids + tok(" " + answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    labels = [-100] * len(head_ids) + ids[len(head_ids) :]
    return ids[:max_length], labels[:max_length]


def _save(model, tok, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)


def finetune(base: Path, pairs: list[tuple[str, str]], out: Path, config: SFTConfig, reporter: Reporter | None = None) -> dict:
    """Fine-tune the HF model in `base` on (prompt, answer) pairs and save it to `out` (an empty,
    existing folder): the full weights, or with `config.lora` a PEFT adapter; with `config.save_every`
    also `out/checkpoint-<step>` folders along the way. Returns {"losses": [...]} per step."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reporter = reporter or Reporter()
    torch.manual_seed(config.seed)
    tok = AutoTokenizer.from_pretrained(base)
    model: Any = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if config.lora is not None:
        from peft import LoraConfig, get_peft_model

        lora = config.lora
        model = get_peft_model(
            model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, target_modules=list(lora.targets), lora_dropout=0.0)
        )
    model.train()
    data = [_tokenise_pair(tok, p, a, config.max_length) for p, a in pairs]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(config.seed)
    losses = []
    advance = reporter.step("fine-tuning", config.steps)
    for step in range(1, config.steps + 1):
        idx = torch.randint(len(data), (config.batch_size,), generator=gen).tolist()
        batch = [data[i] for i in idx]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in batch])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
        if config.save_every and step % config.save_every == 0:
            _save(model, tok, out / f"checkpoint-{step}")
        advance(1)
    reporter.close()
    model.eval()
    _save(model, tok, out)
    return {"losses": losses}
