"""Turn a GGUF file into a normal Hugging Face folder (float32 safetensors + tokenizer).

transformers de-quantises GGUF on load but refuses `save_pretrained` on such a model, so the model
is rebuilt from its config without the GGUF `quantization_config` and the de-quantised state dict is
loaded into it strictly (every key must match) before saving.
"""

from __future__ import annotations

from pathlib import Path

from forgetbench.core.errors import ModelSpecError


def gguf_to_folder(gguf_path: Path, out_dir: Path) -> None:
    """Write an fp32 HF model folder for `gguf_path` into the (existing, empty) `out_dir`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        raise ModelSpecError(f"{gguf_path}: cannot be read as a GGUF model ({exc})") from None
    config_dict = model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**config_dict)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict(), strict=True)
    plain.generation_config = model.generation_config
    plain.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
