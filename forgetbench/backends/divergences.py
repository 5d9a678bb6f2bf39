"""Per-token divergences between two models' next-token distributions over the whole vocabulary.

The one kernel behind every full-vocabulary score: the transformers scorer applies it to each chunk of
response positions, the vLLM worker to each sequence's rows against the reference engine's. A divergence
is a registered function of two [rows × vocab] float32 log-probability slices (read-only) returning one
float32 value per row; `per_token` feeds it slices of at most `CHUNK_ELEMENTS` elements, so whatever a
divergence allocates stays that small however many positions are scored at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    Divergence = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

CHUNK_ELEMENTS = 256 * 1024
"""float32 elements of one slice handed to a divergence on the CPU (1 MiB; at least one whole row): its
temporaries are a few slices, next to the scorer's 32 MiB logits blocks, and a slice's passes stay in
cache. On an accelerator the whole input is one slice: there kernel launches, not memory, are the cost."""

DIVERGENCES: dict[str, Divergence] = {}
"""Registered per-token divergences by name (the name a `TokenScores` field and a store column carry)."""


def register_divergence(name: str) -> Callable[[Divergence], Divergence]:
    """Register `fn(logp, logq) -> [rows]` under `name`: `logp`, `logq` are [rows × vocab] float32 log-probs of
    p and q at the same positions, never to be written; the result is float32, one value per row. A name
    registered twice is an error (two formulas under one name would make stored numbers ambiguous)."""

    def add(fn: Divergence) -> Divergence:
        if name in DIVERGENCES:
            raise ValueError(f"divergence {name!r} is already registered ({DIVERGENCES[name].__qualname__})")
        DIVERGENCES[name] = fn
        return fn

    return add


@register_divergence("full")
def forward_kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL(p‖q) = Σ_v p(v)·(log p(v) − log q(v)) per position, in nats: ≥ 0, 0 when q = p, larger when q
    moves probability away from p's tokens; +inf where q gives 0 to a token p does not. Tokens with
    p(v) = 0 add nothing (0·log 0 = 0), also where q(v) = 0 too."""
    import torch

    p = logp.exp()
    kl = (logp - logq).mul_(p).sum(-1)
    odd = ~torch.isfinite(kl)  # 0·(±inf) = NaN where p(v) = 0 meets an infinite log-ratio: those rows again, 0·log 0 = 0
    if bool(odd.any()):
        p_odd = p[odd]
        kl[odd] = torch.where(p_odd > 0, logp[odd] - logq[odd], 0.0).mul_(p_odd).sum(-1)
    return kl


def per_token(logp: torch.Tensor, logq: torch.Tensor, names: Sequence[str] = ("full",)) -> dict[str, torch.Tensor]:
    """Each named divergence of q from p at every position: `logp`, `logq` are [... × vocab] log-probs (any
    float dtype and device, not modified; computed in float32), the result {name: [...] float32} on their
    device. Rows are independent: a position's value does not depend on the others scored with it."""
    import torch

    if logp.shape != logq.shape:
        raise ValueError(f"log-prob shapes differ: {tuple(logp.shape)} vs {tuple(logq.shape)}")
    unknown = [n for n in names if n not in DIVERGENCES]
    if unknown:
        raise ValueError(f"unknown divergence(s) {', '.join(unknown)}; registered: {', '.join(DIVERGENCES)}")
    vocab = logp.shape[-1]
    flat_p, flat_q = logp.reshape(-1, vocab), logq.reshape(-1, vocab)
    out = {n: torch.empty(flat_p.shape[0], dtype=torch.float32, device=logp.device) for n in names}
    step = max(1, CHUNK_ELEMENTS // max(1, vocab)) if logp.device.type == "cpu" else max(1, flat_p.shape[0])
    for i in range(0, flat_p.shape[0], step):
        sp, sq = flat_p[i : i + step].float(), flat_q[i : i + step].float()
        for name in names:
            out[name][i : i + step] = DIVERGENCES[name](sp, sq)
    return {n: v.view(logp.shape[:-1]) for n, v in out.items()}


@register_divergence("kl_reverse_tok")
def reverse_token_kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL(q‖p) = Σ_v q(v)·(log q(v) − log p(v)) per position, in nats, at the positions of the base's (p's)
    responses: the reverse per-token KL on the base's samples (the sequence-level reverse KL, on the
    checkpoint's own samples, is `--direction reverse`). +inf where p gives 0 to a token q does not."""
    return forward_kl(logq, logp)


@register_divergence("tv")
def total_variation(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Total variation ½Σ_v |p(v) − q(v)| per position: in [0, 1], 0 when q = p, 1 when they share no token."""
    return (logp.exp() - logq.exp()).abs_().sum(-1).mul_(0.5).clamp_(max=1.0)


@register_divergence("js")
def jensen_shannon(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon divergence ½KL(p‖m) + ½KL(q‖m), m = (p + q)/2, per position, in nats: in [0, ln 2],
    symmetric, finite where one model gives a token 0. Each term as p·(ln 2 − softplus(log q − log p)) =
    p·log(2p/(p + q)), so q = p gives exactly 0 and a token only one model gives adds its p·ln 2."""
    import math

    import torch
    from torch.nn.functional import softplus

    ln2 = math.log(2.0)
    d = logq - logp
    p, q = logp.exp(), logq.exp()
    terms = torch.where(p > 0, p * (ln2 - softplus(d)), 0.0) + torch.where(q > 0, q * (ln2 - softplus(-d)), 0.0)
    return terms.sum(-1).mul_(0.5).clamp_(0.0, ln2)
