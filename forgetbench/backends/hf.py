"""The transformers backend: builds lm-eval's HFLM for a resolved model folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from forgetbench.errors import BackendError, ModelSpecError

if TYPE_CHECKING:
    from lm_eval.models.huggingface import HFLM

    from forgetbench.models import ResolvedModel


def default_device() -> str:
    """`cuda` when a GPU is visible, else `cpu`."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> str:
    """`auto` means float32 on CPU and bfloat16 on GPU; other names pass through after checking."""
    if dtype == "auto":
        return "float32" if device == "cpu" else "bfloat16"
    if dtype not in ("float32", "bfloat16", "float16"):
        raise ModelSpecError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return dtype


def lm_eval_model(model: ResolvedModel, device: str, dtype: str, batch_size: int) -> HFLM:
    """lm-eval's HFLM over the model folder (weights loaded now)."""
    from lm_eval.models.huggingface import HFLM

    try:
        return HFLM(
            pretrained=str(model.path),
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            trust_remote_code=model.trust_remote_code,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise BackendError(f"{model.name}: the transformers backend could not load {model.path} ({exc})") from None
