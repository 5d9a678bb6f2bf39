"""Tiny random causal LMs for fast tests: a Llama config of ~0.2M parameters and a byte-level BPE
tokenizer trained on the fly. Built in about a second, saved as a normal HF folder."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Question: What is two plus two?\nAnswer: four",
    "Seven red apples and two green apples are in the basket.",
    "Remove soap scum from the shower with vinegar and baking soda.",
    "A person wants to start saving money for a vacation at the end of the year.",
    "Predators eat bunnies; fog forms around a marsh; oak roots may split a sidewalk.",
] * 20


def make_tiny_model(folder: Path, seed: int = 0, vocab_size: int = 384, hidden_size: int = 32, heads: int = 4) -> Path:
    """Write a tiny random Llama + tokenizer into `folder` and return it (vLLM's CPU attention needs a
    head size of at least 32: hidden_size=64, heads=2)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>")
    model = tiny_lm(len(tok), seed, init_std=0.02, hidden_size=hidden_size, heads=heads, max_positions=1024,
                    bos=tok.bos_token_id, eos=tok.eos_token_id, pad=tok.pad_token_id)  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def variant(model: Path, folder: Path, chat_template: str | None = None, eos: object = None) -> Path:
    """A copy of `model` with a chat template (chat_template.jinja) and/or generation_config.json's
    `eos_token_id` set."""
    import json
    import shutil

    out = Path(shutil.copytree(model, folder))
    if chat_template is not None:
        (out / "chat_template.jinja").write_text(chat_template)
    if eos is not None:
        gen = out / "generation_config.json"
        gen.write_text(json.dumps({**json.loads(gen.read_text()), "eos_token_id": eos}))
    return out


def tiny_lm(
    vocab_size: int = 6,
    seed: int = 0,
    init_std: float = 0.6,
    hidden_size: int = 16,
    intermediate_size: int | None = None,
    eos: int = 1,
    pad: int = 1,
    heads: int = 2,
    max_positions: int = 64,
    bos: int = 0,
):
    """An in-memory tiny Llama (the one tiny config of the tests; `make_tiny_model` saves it with a
    tokenizer): by default over token ids only, with peaked next-token distributions (large init) so KLs
    are far from zero. vLLM's CPU attention needs a head size of at least 32 (`hidden_size=64`: two heads)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=max_positions,
        initializer_range=init_std,
        tie_word_embeddings=False,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    return LlamaForCausalLM(config).eval()


def perturbed(model, scale: float, seed: int = 1):
    """A copy of `model` with Gaussian noise of std `scale` added to every weight."""
    import copy

    import torch

    other = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
    return other


def make_lora(base: Path, folder: Path, seed: int = 0, r: int = 4, targets: tuple[str, ...] = ("q_proj", "v_proj")) -> Path:
    """A random (non-zero) LoRA adapter for the tiny model at `base`, saved with peft into `folder`
    (its adapter_config.json declares `base` as its base)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(targets), init_lora_weights=False, lora_dropout=0.0)
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(folder)
    return folder


def merge_lora(base: Path, adapter: Path, folder: Path) -> Path:
    """The full-weight folder of `base` with `adapter` merged in (peft's merge_and_unload), with the base's tokenizer."""
    import shutil

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    merged.save_pretrained(folder, safe_serialization=True)
    from forgetbench.models.fingerprint import TOKENIZER_FILES

    for name in (*TOKENIZER_FILES, "generation_config.json"):
        if (base / name).is_file():
            shutil.copy(base / name, folder / name)
    return folder
