"""lm-eval's HFLM over a resolved model folder (the transformers backend's suite runner)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from forgetbench.core.errors import BackendError

if TYPE_CHECKING:
    from lm_eval.models.huggingface import HFLM

    from forgetbench.core.model import ResolvedModel


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
