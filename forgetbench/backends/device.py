"""Device and dtype policy, in one neutral place for every backend (torchtune's `precision.py`).

- `auto` device: `cuda` when a GPU is visible to torch, else `cpu`. An explicit `cuda` on a machine
  without one is a usage error (exit 2), not a crash deep inside a backend.
- `auto` dtype: float32 on CPU, bfloat16 on GPU. Log-softmax and KL are always computed in float32.
"""

from __future__ import annotations

from forgetbench.core.errors import UserInputError

PRECISION_REFERENCE = "float32"
"""The dtype a lower-precision run is compared with for its precision floor (`forgetbench.kl.run`)."""


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(requested: str) -> str:
    """`auto` → cuda or cpu; `cuda` must exist here."""
    if requested == "auto":
        return "cuda" if cuda_available() else "cpu"
    if requested == "cuda" and not cuda_available():
        raise UserInputError("--device cuda: no CUDA device is visible to torch here (use --device cpu or auto)")
    return requested


def resolve_dtype(requested: str, device: str) -> str:
    """`auto` → float32 on CPU, bfloat16 on GPU; an explicit dtype is kept."""
    if requested == "auto":
        return "float32" if device == "cpu" else "bfloat16"
    return requested
