"""Weight-space distances between a base and a checkpoint, no prompts (RL's Razor's Table 1 "weight change"):
per weight matrix (every 2-D tensor of the base) the Frobenius norms ‖W‖ and ‖ΔW‖ and the largest singular
value σ₁(ΔW), by power iteration on matrix–vector products.

A full-weight checkpoint is read one matrix at a time from both models' weight files (ΔW in float32, norms
accumulated in float64), so memory holds two matrices, not two models. A LoRA adapter is never merged:
ΔW = s·B·A (s = alpha/r, or alpha/√r with rsLoRA, given per module by `models.weight_distance`), so
‖ΔW‖²_F = s²·Σ (BᵀB ∘ AAᵀ) from r×r products and σ₁ from products with A then B; a module the adapter saves
whole (`modules_to_save`) is compared as a full matrix. Matrices the checkpoint leaves alone count with
ΔW = 0 in every aggregate, so a LoRA adapter and the merged model it equals give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from forgetbench.core.errors import ModelSpecError
from forgetbench.core.results import MatrixDistance

MAX_ITERATIONS = 500
TOLERANCE = 1e-7
"""Power iteration stops when σ₁ changes by less than this fraction between two steps."""


@dataclass(frozen=True)
class LoraPair:
    """One LoRA update of an adapter file: ΔW of base matrix `weight` is `scale`·B·A (transposed for an embedding)."""

    weight: str
    """Name of the base's tensor it changes (`model.layers.0.self_attn.q_proj.weight`)."""
    a: str
    """Tensor name of A ([r, in]; an embedding's: [r, num]) in the adapter file."""
    b: str
    """Tensor name of B ([out, r]; an embedding's: [dim, r])."""
    scale: float


def spectral_norm(
    apply: Callable[[torch.Tensor], torch.Tensor], apply_t: Callable[[torch.Tensor], torch.Tensor], n: int, seed: int = 0
) -> float:
    """σ₁ of a matrix M given as its products `apply(v)` = M·v and `apply_t(u)` = Mᵀ·u (v of size `n`): power
    iteration on MᵀM from a seeded random start, to a relative change below `TOLERANCE` (at most
    `MAX_ITERATIONS` steps; each step's value is a lower bound of σ₁ that rises to it). 0 for M = 0."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(n, generator=gen, dtype=torch.float64)
    v /= torch.linalg.vector_norm(v)
    sigma = 0.0
    for _ in range(MAX_ITERATIONS):
        u = apply(v)
        su = float(torch.linalg.vector_norm(u))
        if su == 0.0:
            return 0.0
        v = apply_t(u / su)
        new = float(torch.linalg.vector_norm(v))
        v /= new
        if abs(new - sigma) <= TOLERANCE * new:
            return new
        sigma = new
    return sigma


def _dense_norm(delta: torch.Tensor) -> float:
    d = delta.to(torch.float64)
    return spectral_norm(lambda v: d @ v, lambda u: d.T @ u, d.shape[1])


def _norm(t: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(t, dtype=torch.float64))


class _Tensors:
    """The tensors of a model's weight files by name, each read when asked (safetensors lazily; a PyTorch
    pickle memory-mapped)."""

    def __init__(self, files: list[Path], stack: ExitStack) -> None:
        from safetensors import safe_open

        self._where: dict[str, Any] = {}
        for f in files:
            if f.suffix == ".safetensors":
                handle = stack.enter_context(safe_open(str(f), framework="pt"))
                self._where.update(dict.fromkeys(handle.keys(), handle))
            else:
                state = torch.load(f, map_location="cpu", weights_only=True, mmap=True)
                self._where.update({k: state for k in state})

    def names(self) -> list[str]:
        return list(self._where)

    def get(self, name: str) -> torch.Tensor:
        source = self._where[name]
        return source.get_tensor(name) if hasattr(source, "get_tensor") else source[name]

    def __contains__(self, name: str) -> bool:
        return name in self._where


def _matrices(base: _Tensors) -> Iterator[tuple[str, torch.Tensor]]:
    for name in sorted(base.names()):
        t = base.get(name)
        if t.ndim == 2 and t.is_floating_point():
            yield name, t


def full_distances(base_files: list[Path], ckpt_files: list[Path]) -> tuple[MatrixDistance, ...]:
    """Every base matrix against the checkpoint's tensor of the same name (ModelSpecError when the
    checkpoint lacks one, or its shape differs)."""
    out = []
    with ExitStack() as stack:
        base, ckpt = _Tensors(base_files, stack), _Tensors(ckpt_files, stack)
        for name, w in _matrices(base):
            if name not in ckpt:
                raise ModelSpecError(f"the checkpoint has no tensor {name}, which the base has; not a fine-tune of this base")
            c = ckpt.get(name)
            if tuple(c.shape) != tuple(w.shape):
                raise ModelSpecError(f"{name} is {list(c.shape)} in the checkpoint and {list(w.shape)} in the base")
            delta = c.to(torch.float32) - w.to(torch.float32)
            out.append(MatrixDistance(name, tuple(w.shape), _norm(w), _norm(delta), _dense_norm(delta)))
    return tuple(out)


def _lora_matrix(name: str, w: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scale: float) -> MatrixDistance:
    """One matrix's distance under ΔW = scale·B·A, from r×r products and matrix–vector products (never B·A)."""
    shape = tuple(w.shape)
    if (b.shape[0], a.shape[1]) not in (shape, shape[::-1]):  # an embedding's update is (B·A)ᵀ
        raise ModelSpecError(f"the adapter's update of {name} is {[b.shape[0], a.shape[1]]}; the base's is {list(shape)}")
    fro = scale * max(0.0, float((b.T @ b * (a @ a.T)).sum())) ** 0.5  # ‖BA‖²_F = Σ BᵀB ∘ AAᵀ
    sigma = scale * spectral_norm(lambda v: b @ (a @ v), lambda u: a.T @ (b.T @ u), a.shape[1])
    return MatrixDistance(name, shape, _norm(w), fro, sigma)


def lora_distances(
    base_files: list[Path], adapter_file: Path, pairs: list[LoraPair], saved: dict[str, str]
) -> tuple[MatrixDistance, ...]:
    """Every base matrix against the adapter's update of it: the LoRA `pairs`, the modules saved whole
    (`saved`: base tensor name → adapter tensor name), ΔW = 0 for the rest."""
    by_weight = {p.weight: p for p in pairs}
    out = []
    with ExitStack() as stack:
        base, adapter = _Tensors(base_files, stack), _Tensors([adapter_file], stack)
        for name in [*by_weight, *saved]:
            if name not in base:
                raise ModelSpecError(f"the adapter changes {name}, which the base does not have")
        for name, w in _matrices(base):
            shape = tuple(w.shape)
            if name in saved:
                delta = adapter.get(saved[name]).to(torch.float32) - w.to(torch.float32)
                out.append(MatrixDistance(name, shape, _norm(w), _norm(delta), _dense_norm(delta)))
            elif name in by_weight:
                p = by_weight[name]
                a, b = (adapter.get(k).to(torch.float64) for k in (p.a, p.b))
                out.append(_lora_matrix(name, w, a, b, p.scale))
            else:
                out.append(MatrixDistance(name, shape, _norm(w), 0.0, 0.0))
    return tuple(out)
