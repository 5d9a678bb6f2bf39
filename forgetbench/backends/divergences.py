"""Per-token divergences between two models' next-token distributions over the whole vocabulary.

The one kernel behind every full-vocabulary score: the transformers scorer applies it to each chunk of
response positions, the vLLM worker to each sequence's rows against the reference engine's. A divergence
is a registered function of a `Slice` (two [rows × vocab] float32 log-probability slices, read-only, and the
parts several divergences share — p, q, log p − log q — each computed once) returning one float32 value per
row; `per_token` feeds it slices of at most `CHUNK_ELEMENTS` elements, so whatever a divergence allocates
stays that small however many positions are scored at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    Divergence = Callable[["Slice"], "torch.Tensor"]

CHUNK_ELEMENTS = 256 * 1024
"""float32 elements of one slice handed to the divergences on the CPU (1 MiB; at least one whole row): their
temporaries are a few slices, next to the scorer's 32 MiB logits blocks, and a slice's passes stay in
cache. On an accelerator the whole input is one slice: there kernel launches, not memory, are the cost."""

LN2 = math.log(2.0)

DIVERGENCES: dict[str, Divergence] = {}
"""Registered per-token divergences by name (the name a `TokenScores` entry and a kl.parquet column carry)."""

ACTIVATION = "act"
"""The per-token distance of the two models' final hidden states (`activation_distance`): not a function of
the log-probs, so not in `DIVERGENCES`; a scorer that has the hidden states computes it beside them."""


class Slice:
    """Two models' float32 log-probs at the same positions ([rows × vocab], never written) and what several
    divergences need of them, each computed once, when first asked: p, q, log p − log q, softplus of it."""

    def __init__(self, logp: torch.Tensor, logq: torch.Tensor) -> None:
        self.logp, self.logq = logp, logq

    @cached_property
    def p(self) -> torch.Tensor:
        return self.logp.exp()

    @cached_property
    def q(self) -> torch.Tensor:
        return self.logq.exp()

    @cached_property
    def log_ratio(self) -> torch.Tensor:
        """log p − log q (+inf where only q is 0, −inf where only p is, NaN where both are)."""
        return self.logp - self.logq

    def softplus(self, sign: float) -> torch.Tensor:
        """softplus(sign·(log p − log q)) = log(1 + (p/q)^sign), from a cache."""
        from torch.nn.functional import softplus

        key = "_softplus_pos" if sign > 0 else "_softplus_neg"
        if key not in self.__dict__:
            self.__dict__[key] = softplus(self.log_ratio if sign > 0 else -self.log_ratio)
        return self.__dict__[key]


def register_divergence(name: str) -> Callable[[Divergence], Divergence]:
    """Register `fn(s: Slice) -> [rows]` under `name`: a float32 value per row of the slice's log-probs, from
    its shared parts (`s.p`, `s.q`, `s.log_ratio`, ...), writing none of them. A name registered twice is an
    error (two formulas under one name would make stored numbers ambiguous)."""

    def add(fn: Divergence) -> Divergence:
        if name in DIVERGENCES:
            raise ValueError(f"divergence {name!r} is already registered ({DIVERGENCES[name].__qualname__})")
        DIVERGENCES[name] = fn
        return fn

    return add


def _weighted(weights: torch.Tensor, log_ratio: torch.Tensor) -> torch.Tensor:
    """Σ_v w(v)·r(v) per row, where a term with w(v) = 0 is 0 (0·log 0 = 0) even where r(v) is infinite or NaN."""
    import torch

    total = (log_ratio * weights).sum(-1)
    odd = ~torch.isfinite(total)  # 0·(±inf) = NaN where w(v) = 0 meets an infinite log-ratio: those rows again
    if bool(odd.any()):
        w_odd = weights[odd]
        total[odd] = torch.where(w_odd > 0, log_ratio[odd], 0.0).mul_(w_odd).sum(-1)
    return total


@register_divergence("full")
def forward_kl(s: Slice) -> torch.Tensor:
    """KL(p‖q) = Σ_v p(v)·(log p(v) − log q(v)) per position, in nats: ≥ 0, 0 when q = p, larger when q
    moves probability away from p's tokens; +inf where q gives 0 to a token p does not. Tokens with
    p(v) = 0 add nothing (0·log 0 = 0), also where q(v) = 0 too."""
    return _weighted(s.p, s.log_ratio)


@register_divergence("kl_reverse_tok")
def reverse_token_kl(s: Slice) -> torch.Tensor:
    """KL(q‖p) = Σ_v q(v)·(log q(v) − log p(v)) per position, in nats, at the positions of the base's (p's)
    responses: the reverse per-token KL on the base's samples (the sequence-level reverse KL, on the
    checkpoint's own samples, is `--direction reverse`). +inf where p gives 0 to a token q does not."""
    return _weighted(s.q, s.log_ratio).neg_().add_(0.0)  # + 0.0: no −0.0 against itself


@register_divergence("tv")
def total_variation(s: Slice) -> torch.Tensor:
    """Total variation ½Σ_v |p(v) − q(v)| per position: in [0, 1], 0 when q = p, 1 when they share no token."""
    return (s.p - s.q).abs_().sum(-1).mul_(0.5).clamp_(max=1.0)


@register_divergence("js")
def jensen_shannon(s: Slice) -> torch.Tensor:
    """Jensen–Shannon divergence ½KL(p‖m) + ½KL(q‖m), m = (p + q)/2, per position, in nats: in [0, ln 2],
    symmetric, finite where one model gives a token 0. Each term as p·(ln 2 − softplus(log q − log p)) =
    p·log(2p/(p + q)), so q = p gives exactly 0 and a token only one model gives adds its p·ln 2.

    Computed with one softplus per token instead of two (half the kernel's cost over `full` on the CPU): with
    r = log p − log q and a = log(1 + e^−|r|), the two terms sum to (p + q)(ln 2 − a) + p·min(r, 0) − q·max(r, 0).
    Rows where that meets 0·∞ (a token only one model gives, log-ratio ±∞) or NaN are recomputed term by term."""
    import torch
    from torch.nn.functional import softplus

    r = s.log_ratio
    terms = softplus(r.abs().neg_()).neg_().add_(LN2).mul_(s.p + s.q)
    terms.addcmul_(s.p, r.clamp(max=0.0)).addcmul_(s.q, r.clamp(min=0.0), value=-1.0)
    total = terms.sum(-1)
    odd = ~torch.isfinite(total)
    if bool(odd.any()):
        p, q = s.p[odd], s.q[odd]
        exact = torch.where(p > 0, p * (LN2 - softplus(-r[odd])), 0.0)
        exact += torch.where(q > 0, q * (LN2 - softplus(r[odd])), 0.0)
        total[odd] = exact.sum(-1)
    return total.mul_(0.5).clamp_(0.0, LN2)


def activation_distance(hp: torch.Tensor, hq: torch.Tensor) -> torch.Tensor:
    """‖h_q − h_p‖₂ / ‖h_p‖₂ per position, in float32: the relative L2 distance between the two models' final
    hidden states (after the final norm, what the output head reads) at the positions that predict each
    response token. 0 for identical states; NaN where the base's state is all zero."""
    hp32, hq32 = hp.float(), hq.float()
    return (hq32 - hp32).norm(dim=-1).div_(hp32.norm(dim=-1))


def every_name() -> tuple[str, ...]:
    """Every per-token quantity a full scorer can compute: the registered divergences, `full` first, then the
    activation distance."""
    return (*DIVERGENCES, ACTIVATION)


def check_names(names: Sequence[str]) -> None:
    """ValueError naming what is neither a registered divergence nor the activation distance."""
    unknown = [n for n in names if n not in DIVERGENCES and n != ACTIVATION]
    if unknown:
        raise ValueError(f"unknown divergence(s) {', '.join(unknown)}; registered: {', '.join(every_name())}")


def per_token(logp: torch.Tensor, logq: torch.Tensor, names: Sequence[str] = ("full",)) -> dict[str, torch.Tensor]:
    """Each named divergence of q from p at every position: `logp`, `logq` are [... × vocab] log-probs (any
    float dtype and device, not modified; computed in float32), the result {name: [...] float32} on their
    device. Rows are independent: a position's value does not depend on the others scored with it."""
    import torch

    if logp.shape != logq.shape:
        raise ValueError(f"log-prob shapes differ: {tuple(logp.shape)} vs {tuple(logq.shape)}")
    names = [n for n in names if n != ACTIVATION]
    check_names(names)
    vocab = logp.shape[-1]
    flat_p, flat_q = logp.reshape(-1, vocab), logq.reshape(-1, vocab)
    out = {n: torch.empty(flat_p.shape[0], dtype=torch.float32, device=logp.device) for n in names}
    step = max(1, CHUNK_ELEMENTS // max(1, vocab)) if logp.device.type == "cpu" else max(1, flat_p.shape[0])
    for i in range(0, flat_p.shape[0], step):
        sp, sq = flat_p[i : i + step].float(), flat_q[i : i + step].float()
        piece = Slice(sp, sq)
        for name in names:
            out[name][i : i + step] = DIVERGENCES[name](piece)
    return {n: v.view(logp.shape[:-1]) for n, v in out.items()}
