"""The candidate predictors of forgetting (RL's Razor's Table 1, for the user's own family): what each one
measures, on which inputs, in which unit, and the leaderboard column it is published in.

Per-token divergences are computed over the whole vocabulary on responses sampled from the base and
summed along each response (like the headline `full` KL), then averaged over prompts; `_new` on the
new-task prompts, `_old` on prompts drawn from the prior suite's own items. Weight distances need no
prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Inputs = Literal["new", "old", "weights"]


@dataclass(frozen=True)
class Predictor:
    """One candidate predictor of forgetting."""

    name: str
    """Its name in results, boards and policies (`tv_new`)."""
    inputs: Inputs
    """`new` (new-task prompts), `old` (prior-suite prompts) or `weights` (no prompts)."""
    unit: str
    what: str
    """One line: what it measures."""
    column: str
    """The leaderboard column it is published in (its name, but `kl` for the forward KL on the new task)."""


_PER_TOKEN = {
    "kl_forward": ("nats/sequence", "forward KL Σ p log(p/q) per token, summed along the base's responses"),
    "kl_reverse_tok": ("nats/sequence", "reverse per-token KL Σ q log(q/p), on the base's responses"),
    "tv": ("tokens", "total variation ½Σ|p − q| per token (in [0, 1]), summed along the base's responses"),
    "js": ("nats/sequence", "Jensen–Shannon divergence per token (≤ ln 2), summed along the base's responses"),
    "act": ("tokens", "relative L2 distance of the final hidden states per token, summed along the base's responses"),
}


def _per_token(key: str, inputs: Inputs) -> Predictor:
    unit, what = _PER_TOKEN[key]
    name = f"{key}_{inputs}"
    where = "new-task" if inputs == "new" else "prior-suite"
    return Predictor(name, inputs, unit, f"{what} ({where} prompts)", "kl" if name == "kl_forward_new" else name)


PREDICTORS: tuple[Predictor, ...] = (
    *(_per_token(key, inputs) for inputs in ("new", "old") for key in _PER_TOKEN),
    Predictor(
        "kl_reverse_new", "new", "nats/sequence", "reverse sequence KL, on the checkpoint's own responses", "kl_reverse_new"
    ),
    Predictor("weight_frobenius", "weights", "ratio", "‖ΔW‖_F / ‖W‖_F over every weight matrix", "weight_frobenius"),
    Predictor("weight_spectral", "weights", "weight units", "the largest σ₁(ΔW) of any weight matrix", "weight_spectral"),
)
"""Every predictor forgetbench can report, new-task ones first."""

BY_NAME = {p.name: p for p in PREDICTORS}
BY_COLUMN = {p.column: p for p in PREDICTORS}
