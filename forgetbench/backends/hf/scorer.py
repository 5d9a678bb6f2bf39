"""The transformers KL pass: sample responses and score them under two models.

Scoring never materialises [batch × length × vocabulary] for both models: each model runs its
transformer body once over the batch (hidden states are only [batch × length × hidden]), then the
output head, log-softmax and KL are applied a chunk of response positions at a time, in float32.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Literal

from forgetbench.backends.base import NonFiniteLogprobs, TokenScores
from forgetbench.core.errors import BackendError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from forgetbench.core.model import ResolvedModel


LOGITS_BUDGET = 8 * 1024 * 1024  # float32 elements of one [batch × chunk × vocab] block (32 MiB); ~4 live at once
MIN_ROWS = 128  # ...but at least this many positions per block: the output head is a matrix product whose
# weights are re-read per block, and fewer rows make it memory-bound (262k-vocab heads: 128 MiB blocks)


def load_model(model: ResolvedModel, device: str, dtype: str) -> PreTrainedModel:
    """Load a causal LM for sampling/scoring and check its output head can be applied in chunks."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        lm = AutoModelForCausalLM.from_pretrained(
            model.path, dtype=getattr(torch, dtype), trust_remote_code=model.trust_remote_code
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise BackendError(f"{model.name}: could not load {model.path} ({exc})") from None
    lm.to(device).eval()  # type: ignore[arg-type]
    _check_head(lm, model.name)
    return lm


def _head(lm: PreTrainedModel, hidden: torch.Tensor) -> torch.Tensor:
    """Logits from last hidden states, as the model's forward computes them (incl. soft-capping)."""
    import torch

    logits = lm.get_output_embeddings()(hidden)
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def _body(lm: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Last hidden states [batch × length × hidden] (no output head)."""
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    return lm.get_decoder()(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state


def _check_head(lm: PreTrainedModel, name: str) -> None:
    import torch

    ids = torch.arange(3, 11, device=lm.device).clamp(max=lm.config.vocab_size - 1)[None]
    mask = torch.ones_like(ids)
    with torch.no_grad():
        full = lm(input_ids=ids, attention_mask=mask).logits.float()
        ours = _head(lm, _body(lm, ids, mask)).float()
    if not torch.allclose(full, ours, atol=1e-3, rtol=1e-3, equal_nan=True):
        raise BackendError(f"{name}: its output head is not a plain projection; chunked KL scoring would be wrong")


def _left_pad(seqs: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s) :] = torch.tensor(s, dtype=torch.long)
        mask[i, width - len(s) :] = 1
    return ids.to(device), mask.to(device)


def _cache_argument(lm: PreTrainedModel) -> str:
    """The name of the key/value cache in forward's inputs and outputs: `cache` from transformers 5.2x on
    (where `past_key_values` is deprecated, to be removed in 5.40), `past_key_values` before."""
    return "cache" if "cache" in inspect.signature(lm.forward).parameters else "past_key_values"


def sample(
    lm: PreTrainedModel,
    prompts: list[list[int]],
    max_new_tokens: int,
    eos_ids: set[int],
    pad_id: int,
    seed: int,
    on_batch=lambda n: None,
    batch_size: int = 16,
) -> list[list[int]]:
    """One response per prompt (token ids, ending with an EOS id when one was drawn), sampled from
    `lm` at temperature 1 with no top-p / top-k: exactly the model's next-token distribution."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(seed)
    cache_arg = _cache_argument(lm)
    out: list[list[int]] = []
    eos = torch.tensor(sorted(eos_ids), dtype=torch.long, device=lm.device)
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start : start + batch_size]
            ids, mask = _left_pad(batch, pad_id, lm.device)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            done = torch.zeros(len(batch), dtype=torch.bool, device=lm.device)
            responses = torch.full((len(batch), max_new_tokens), -1, dtype=torch.long)
            res = lm(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
            for t in range(max_new_tokens):
                probs = torch.softmax(res.logits[:, -1].float(), dim=-1)
                if not torch.isfinite(probs).all():
                    raise BackendError("non-finite logits while sampling")
                token = torch.multinomial(probs.cpu(), 1, generator=gen).squeeze(1).to(lm.device)
                token = torch.where(done, torch.full_like(token, pad_id), token)
                responses[:, t] = torch.where(done, torch.full_like(token, -1), token).cpu()
                done |= torch.isin(token, eos)
                if bool(done.all()):
                    break
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # finished rows: ignored
                positions = positions[:, -1:] + 1
                res = lm(
                    input_ids=token[:, None],
                    attention_mask=mask,
                    position_ids=positions,
                    use_cache=True,
                    **{cache_arg: getattr(res, cache_arg)},
                )
            out += [[int(x) for x in row if x >= 0] for row in responses.tolist()]
            on_batch(len(batch))
    return out


def score(
    p_model: PreTrainedModel,
    q_model: PreTrainedModel,
    sequences: list[tuple[list[int], list[int]]],
    pad_id: int,
    on_batch=lambda n: None,
    batch_size: int = 8,
    logits_budget: int = LOGITS_BUDGET,
) -> list[TokenScores]:
    """Per-token KL(p‖q), log p(y_t) and log q(y_t) for each (prompt ids, response ids) sequence."""
    import torch

    results: list[TokenScores] = []
    vocab = p_model.config.vocab_size
    with torch.no_grad():
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start : start + batch_size]
            full = [p + r for p, r in batch]
            ids, mask = _left_pad(full, pad_id, p_model.device)
            width = ids.shape[1]
            hp = _body(p_model, ids, mask)
            hq = _body(q_model, ids.to(q_model.device), mask.to(q_model.device)).to(hp.device)
            # Response token j of row i sits at column width - len(r) + j and is predicted from column - 1.
            max_r = max(len(r) for _, r in batch)
            kl = torch.zeros((len(batch), max_r), dtype=torch.float32)
            lp = torch.zeros_like(kl)
            lq = torch.zeros_like(kl)
            chunk = max(1, max(MIN_ROWS, logits_budget // vocab) // len(batch))
            for j0 in range(0, max_r, chunk):
                j1 = min(max_r, j0 + chunk)
                cols = torch.arange(j0, j1)
                # column of response token j for each row (rows with shorter responses are masked)
                rlen = torch.tensor([len(r) for _, r in batch])
                pos = (width - rlen)[:, None] + cols[None, :]  # [B, c]
                valid = cols[None, :] < rlen[:, None]
                pos = torch.where(valid, pos, torch.full_like(pos, width - 1))
                src = (pos - 1).to(hp.device)
                rows = torch.arange(len(batch), device=hp.device)[:, None]
                logp = torch.log_softmax(_head(p_model, hp[rows, src]).float(), dim=-1)
                logq = torch.log_softmax(_head(q_model, hq[rows, src]).float(), dim=-1)
                roles: tuple[tuple[Literal["p", "q"], torch.Tensor], ...] = (("p", logp), ("q", logq))
                for role, lx in roles:
                    bad = ~torch.isfinite(lx).all(-1) & valid.to(lx.device)
                    if bool(bad.any()):
                        raise NonFiniteLogprobs(role, start + int(bad.any(-1).nonzero()[0, 0]))
                tok = ids[rows, pos.to(ids.device)].to(hp.device)
                lp[:, j0:j1] = logp.gather(-1, tok[..., None]).squeeze(-1).cpu()
                lq[:, j0:j1] = logq.gather(-1, tok[..., None]).squeeze(-1).cpu()
                diff = logp - logq
                del logq
                kl[:, j0:j1] = diff.mul_(logp.exp_()).sum(-1).cpu()  # Σ_v p (log p − log q), in place
                del logp, diff
            for i, (_, r) in enumerate(batch):
                n = len(r)
                results.append(TokenScores(kl[i, :n].numpy().copy(), lp[i, :n].numpy().copy(), lq[i, :n].numpy().copy()))
            on_batch(len(batch))
    return results
