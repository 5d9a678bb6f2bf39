"""The transformers KL pass: sample responses and score them under two models.

Scoring never materialises [batch × length × vocabulary] for both models: each model runs its
transformer body over the batch, a few rows at a time (hidden states are only [batch × length × hidden]), then the
output head and log-softmax are applied a chunk of response positions at a time, in float32, and the KL
(`backends.divergences`, the kernel the vLLM worker uses too) to each chunk's log-probs.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal

from forgetbench.backends.base import NonFiniteLogprobs, TokenScores
from forgetbench.backends.divergences import ACTIVATION, activation_distance, check_names, per_token
from forgetbench.core.errors import BackendError

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from transformers import PreTrainedModel

    from forgetbench.core.model import ResolvedModel

    Block = Callable[[tuple[int, ...]], torch.Tensor]  # shape -> a float32 tensor of that shape to write into


LOGITS_BUDGET = 8 * 1024 * 1024  # float32 elements of one [batch × chunk × vocab] block (32 MiB); ≤3 live at once
MIN_ROWS = 128  # ...but at least this many positions per block: the output head is a matrix product whose
# weights are re-read per block, and fewer rows make it memory-bound (262k-vocab heads: 128 MiB blocks)
BODY_TOKENS = 1024  # tokens per transformer-body call (whole rows of the batch; at least one row)


def load_model(model: ResolvedModel, device: str, dtype: str) -> PreTrainedModel:
    """Load a causal LM for sampling, scoring and suites, and check its output head can be applied in chunks.

    An adapter checkpoint is its base loaded in float32 with the LoRA update folded into the weights
    (W + s·BA, peft's `merge_and_unload`), then cast to `dtype`: exactly the model a merged full-weight
    folder saved in that dtype holds, and as fast as the base (no extra matrix products per layer)."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the backend reports the load itself; transformers' bar would interleave
    load_dtype = "float32" if model.adapter else dtype
    try:
        lm = AutoModelForCausalLM.from_pretrained(
            model.path, dtype=getattr(torch, load_dtype), trust_remote_code=model.trust_remote_code
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise BackendError(f"{model.name}: could not load {model.path} ({exc})") from None
    if model.adapter:
        lm = _merge_adapter(lm, model).to(getattr(torch, dtype))
    lm.to(device).eval()  # type: ignore[arg-type]
    _check_head(lm, model.name)
    return lm


def _merge_adapter(lm: PreTrainedModel, model: ResolvedModel) -> PreTrainedModel:
    """The base `lm` with `model.adapter` merged into its weights (peft)."""
    from peft import PeftModel

    assert model.adapter is not None
    try:
        with warnings.catch_warnings():  # peft reads an attribute transformers deprecates; nothing a user can act on
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            peft_model = PeftModel.from_pretrained(lm, str(model.adapter.path), is_trainable=False)
        merged: PreTrainedModel = peft_model.merge_and_unload()
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise BackendError(f"{model.name}: peft could not apply the adapter to {model.path} ({first})") from None
    return merged


def _head(lm: PreTrainedModel, hidden: torch.Tensor, into: Block | None = None) -> torch.Tensor:
    """Logits from last hidden states, as the model's forward computes them (incl. soft-capping);
    with `into`, as float32 written into `into(shape)`."""
    import torch

    head = lm.get_output_embeddings()
    if into is not None and type(head) is torch.nn.Linear and hidden.dtype == head.weight.dtype == torch.float32:
        # what nn.Linear computes (one matrix product over the flattened rows), straight into the block
        logits = into((*hidden.shape[:-1], head.out_features))
        x, y = hidden.reshape(-1, hidden.shape[-1]), logits.view(-1, head.out_features)
        if head.bias is None:
            torch.mm(x, head.weight.t(), out=y)
        else:
            torch.addmm(head.bias, x, head.weight.t(), out=y)
    else:
        logits = head(hidden)
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = logits.div_(cap).tanh_().mul_(cap)  # = tanh(logits / cap) * cap, without two more blocks
    if into is not None and logits.dtype != torch.float32:
        logits = into(tuple(logits.shape)).copy_(logits)
    return logits


class _Blocks:
    """The chunk loop's three float32 [batch × chunk × vocab] blocks (a model's logits, log p, log q), carved
    from one allocation per batch and reused by every chunk. Allocating and freeing ~32 MiB blocks chunk after
    chunk lets glibc raise its mmap threshold and serve them from the heap, which fragments (SmolLM2 8×256,
    104 MiB of live tensors: resident peak 179–200 MiB, 104–161 MiB with these); one allocation above 32 MiB
    is always mmap'd and goes back to the system whole."""

    def __init__(self, numel: int, device) -> None:
        import torch

        self.numel = numel
        self.flat = torch.empty(3 * numel, dtype=torch.float32, device=device)

    def __call__(self, i: int, shape: tuple[int, ...]) -> torch.Tensor:
        import torch

        size = math.prod(shape)
        if size > self.numel:  # a head wider than config.vocab_size
            return torch.empty(shape, dtype=torch.float32, device=self.flat.device)
        return self.flat[i * self.numel : i * self.numel + size].view(shape)


def _body(lm: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Last hidden states [batch × length × hidden] (no output head), computed BODY_TOKENS // length rows at a
    time (a row's hidden states do not depend on the other rows) and without a key/value cache, so the
    body's activations stay small next to the logits blocks instead of growing with batch × length."""
    import torch

    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    decoder = lm.get_decoder()
    step = max(1, BODY_TOKENS // ids.shape[1])
    parts = [
        decoder(
            input_ids=ids[i : i + step],
            attention_mask=mask[i : i + step],
            position_ids=positions[i : i + step],
            use_cache=False,
        ).last_hidden_state
        for i in range(0, ids.shape[0], step)
    ]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _log_probs(
    lm: PreTrainedModel,
    hidden: torch.Tensor,
    role: Literal["p", "q"],
    valid: torch.Tensor,
    first: int,
    logits_into: Block,
    into: Block,
) -> torch.Tensor:
    """float32 log-softmax of the head over `hidden` [batch × chunk × hidden], written into `into`;
    raises on a non-finite valid row."""
    import torch

    logits = _head(lm, hidden, logits_into)
    lx = torch.log_softmax(logits, dim=-1, out=into(tuple(logits.shape)))
    low, high = torch.aminmax(lx, dim=-1)  # both propagate NaN; isfinite(lx) would build two more blocks
    bad = ~(torch.isfinite(low) & torch.isfinite(high)) & valid.to(lx.device)
    if bool(bad.any()):
        raise NonFiniteLogprobs(role, first + int(bad.any(-1).nonzero()[0, 0]))
    return lx


def _check_head(lm: PreTrainedModel, name: str) -> None:
    import torch

    ids = torch.arange(3, 11, device=lm.device).clamp(max=lm.config.vocab_size - 1)[None]
    mask = torch.ones_like(ids)
    with torch.no_grad():
        full = lm(input_ids=ids, attention_mask=mask).logits.float()
        ours = _head(lm, _body(lm, ids, mask), lambda shape: torch.empty(shape, device=lm.device))
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


@dataclass
class BaseSide:
    """p's side of `score` for one batch, computed once (`base_side`) for scoring the same sequences against a q
    that changes (a training run's model): its final hidden states [batch × width × hidden] and, when asked
    for, its float32 log-probs at the response positions [batch × longest response × vocabulary]."""

    hidden: torch.Tensor
    logp: torch.Tensor | None = None


def score(
    p_model: PreTrainedModel,
    q_model: PreTrainedModel,
    sequences: list[tuple[list[int], list[int]]],
    pad_id: int,
    on_batch=lambda n: None,
    batch_size: int = 8,
    logits_budget: int = LOGITS_BUDGET,
    divergences: tuple[str, ...] = ("full",),
    p_side: list[BaseSide] | None = None,
) -> list[TokenScores]:
    """Per-token log p(y_t), log q(y_t) and each named divergence (`full` = KL(p‖q) into `TokenScores.kl`,
    the others into `TokenScores.divergences`) for each (prompt ids, response ids) sequence. `p_side`: p's
    side per batch from `base_side` with the same sequences, batch size and budget (p's transformer body, and
    with cached log-probs its head, are then not run again; the numbers are the same, bit for bit)."""
    import torch

    check_names(divergences)
    results: list[TokenScores] = []
    with torch.no_grad():
        for n, start in enumerate(range(0, len(sequences), batch_size)):
            batch = sequences[start : start + batch_size]
            side = p_side[n] if p_side is not None else None
            values, lp, lq = _score_batch(p_model, q_model, batch, pad_id, start, logits_budget, divergences, side)
            for i, (_, r) in enumerate(batch):
                n = len(r)
                row = {name: v[i, :n].numpy().copy() for name, v in values.items()}
                kl = row.pop("full", None)
                results.append(TokenScores(kl, lp[i, :n].numpy().copy(), lq[i, :n].numpy().copy(), row))
            on_batch(len(batch))
    return results


def base_side(
    p_model: PreTrainedModel,
    sequences: list[tuple[list[int], list[int]]],
    pad_id: int,
    batch_size: int = 8,
    log_probs: bool = False,
    logits_budget: int = LOGITS_BUDGET,
) -> list[BaseSide]:
    """p's side of `score` for each batch of `sequences` as `score` batches them: the hidden states, and with
    `log_probs` the log-probs too (responses × vocabulary × 4 bytes; checked finite here, as `score` would)."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start : start + batch_size]
            ids, mask = _left_pad([p + r for p, r in batch], pad_id, p_model.device)
            hp = _body(p_model, ids, mask)
            logp = None
            if log_probs:
                vocab = p_model.config.vocab_size
                max_r = max(len(r) for _, r in batch)
                logp = torch.empty((len(batch), max_r, vocab), dtype=torch.float32, device=hp.device)
                chunks = _Chunks(batch, ids, logits_budget // vocab)
                blocks = _Blocks(len(batch) * chunks.size * vocab, hp.device)
                for j0, j1, valid, src, _ in chunks:
                    logp[:, j0:j1] = _log_probs(
                        p_model, hp[chunks.rows, src], "p", valid, start, partial(blocks, 0), partial(blocks, 1)
                    )
            out.append(BaseSide(hp, logp))
    return out


class _Chunks:
    """The response positions of a left-padded batch, a chunk of columns at a time: (j0, j1, valid [B × c],
    src [B × c]: the column whose hidden state predicts each token, tok [B × c]: the token)."""

    def __init__(self, batch: list[tuple[list[int], list[int]]], ids: torch.Tensor, rows_budget: int) -> None:
        import torch

        self.ids, self.width = ids, ids.shape[1]
        self.max_r = max(len(r) for _, r in batch)
        self.size = max(1, max(MIN_ROWS, rows_budget) // len(batch))
        self.rlen = torch.tensor([len(r) for _, r in batch])
        self.rows = torch.arange(len(batch), device=ids.device)[:, None]

    def __iter__(self):
        import torch

        for j0 in range(0, self.max_r, self.size):
            j1 = min(self.max_r, j0 + self.size)
            cols = torch.arange(j0, j1)
            # Response token j of row i sits at column width - len(r) + j and is predicted from column - 1
            # (rows with shorter responses are masked).
            pos = (self.width - self.rlen)[:, None] + cols[None, :]  # [B, c]
            valid = cols[None, :] < self.rlen[:, None]
            pos = torch.where(valid, pos, torch.full_like(pos, self.width - 1))
            yield j0, j1, valid, (pos - 1).to(self.ids.device), self.ids[self.rows, pos.to(self.ids.device)]


def _score_batch(
    p_model: PreTrainedModel,
    q_model: PreTrainedModel,
    batch: list[tuple[list[int], list[int]]],
    pad_id: int,
    start: int,
    logits_budget: int,
    divergences: tuple[str, ...],
    side: BaseSide | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """[batch × longest response] divergences by name, log p and log q. Its own function so that the hidden
    states and the blocks are all released before the next batch's transformer bodies run."""
    import torch

    vocab = p_model.config.vocab_size
    ids, mask = _left_pad([p + r for p, r in batch], pad_id, p_model.device)
    hp = side.hidden if side is not None else _body(p_model, ids, mask)
    hq = _body(q_model, ids.to(q_model.device), mask.to(q_model.device)).to(hp.device)
    chunks = _Chunks(batch, ids.to(hp.device), logits_budget // vocab)
    lp = torch.zeros((len(batch), chunks.max_r), dtype=torch.float32)
    lq = torch.zeros_like(lp)
    values = {name: torch.zeros_like(lp) for name in divergences}
    vocab_divergences = tuple(n for n in divergences if n != ACTIVATION)
    blocks = _Blocks(len(batch) * chunks.size * vocab, hp.device)
    logits, p_block, q_block = partial(blocks, 0), partial(blocks, 1), partial(blocks, 2)
    rows = chunks.rows
    for j0, j1, valid, src, tok in chunks:
        if side is not None and side.logp is not None:
            logp = side.logp[:, j0:j1]
        else:
            logp = _log_probs(p_model, hp[rows, src], "p", valid, start, logits, p_block)
        lp[:, j0:j1] = logp.gather(-1, tok[..., None]).squeeze(-1).cpu()
        logq = _log_probs(q_model, hq[rows, src], "q", valid, start, logits, q_block)
        lq[:, j0:j1] = logq.gather(-1, tok[..., None]).squeeze(-1).cpu()
        for name, v in per_token(logp, logq, vocab_divergences).items():
            values[name][:, j0:j1] = v.cpu()
        if ACTIVATION in values:
            values[ACTIVATION][:, j0:j1] = activation_distance(hp[rows, src], hq[rows, src]).cpu()
    return values, lp, lq
