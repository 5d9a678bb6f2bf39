"""lm-eval's HFLM over a model the transformers backend has loaded (the backend's suite runner)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from forgetbench.core.errors import BackendError

if TYPE_CHECKING:
    from lm_eval.models.huggingface import HFLM
    from transformers import PreTrainedModel

    from forgetbench.core.model import ResolvedModel


def lm_eval_model(lm: PreTrainedModel, model: ResolvedModel, batch_size: int) -> HFLM:
    """lm-eval's HFLM over the loaded `lm` (the same weights the KL pass uses: one load serves both),
    with the tokenizer of `model`'s folder (an adapter's base's)."""
    import logging

    from lm_eval.models.huggingface import HFLM

    hf_logger = logging.getLogger("lm_eval.models.huggingface")
    level = hf_logger.level
    hf_logger.setLevel(logging.ERROR)  # its warning that other model arguments are ignored is expected here
    try:
        return HFLM(pretrained=lm, tokenizer=str(model.path), batch_size=batch_size, trust_remote_code=model.trust_remote_code)
    except (OSError, ValueError, RuntimeError) as exc:
        raise BackendError(f"{model.name}: lm-eval could not wrap the loaded model ({exc})") from None
    finally:
        hf_logger.setLevel(level)
