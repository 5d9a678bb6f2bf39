"""Everything a KL measurement decides before any compute: which model samples, the rendered and
tokenised prompts, stop and pad tokens, where the samples are stored, the noise-floor size.

Building a plan checks what can be checked cheaply — a shared vocabulary, loadable tokenizers, the
same chat template and stop tokens on both models — so a run that cannot work stops here, before any
model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from forgetbench.backends.base import SamplingRequest
from forgetbench.core.errors import ModelSpecError, UserInputError
from forgetbench.core.hashing import digest
from forgetbench.kl.prompts import Prompts
from forgetbench.models import tokenizer
from forgetbench.models.spec import context_length

if TYPE_CHECKING:
    from forgetbench.backends.base import Backend
    from forgetbench.core.config import KLConfig
    from forgetbench.core.model import ResolvedModel


@dataclass(frozen=True)
class Plan:
    """A KL measurement, decided."""

    config: KLConfig
    base: ResolvedModel
    ckpt: ResolvedModel
    sampler: ResolvedModel
    """The model responses are drawn from (the base for forward KL)."""
    other: ResolvedModel
    prompts: Prompts
    rendered: list[str]
    """Prompts after any chat template."""
    templated: bool
    """Whether the chat template was applied."""
    prompt_ids: list[list[int]]
    """Rendered, tokenised prompts (one per chosen prompt)."""
    sampling: SamplingRequest
    device: str
    dtype: str
    engine_version: str | None
    samples_key: str
    """Store key of the sampled responses."""
    n_noise: int
    """Prompts in the noise-floor pass (0: skipped)."""
    template_mismatch: str | None = None
    """How the models' chat templates or stop tokens differ, when `allow_template_mismatch` let it pass."""
    reverse: Plan | None = None
    """`--direction both`: the reverse measurement (the checkpoint's samples scored under both, `full` only,
    no noise floor), or None."""
    old: Plan | None = None
    """The same measurement on prompts drawn from the prior suite's items (the `_old` predictors: no noise
    floor, the base samples), or None."""

    @property
    def expanded(self) -> list[list[int]]:
        """Prompt ids repeated `samples_per_prompt` times, prompt-major (the order of responses)."""
        return [ids for ids in self.prompt_ids for _ in range(self.config.samples_per_prompt)]

    @property
    def prompts_hash(self) -> str:
        """sha256 of the rendered prompts, in order."""
        return digest(self.rendered)


def check_lengths(config: KLConfig, prompts: Prompts, prompt_ids: list[list[int]], context: int | None) -> None:
    """Refuse, before any compute, a prompt that leaves no room for `--max-new-tokens` in the context."""
    if context is None:
        return
    longest = max(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
    need = len(prompt_ids[longest]) + config.max_new_tokens
    if need > context:
        raise UserInputError(
            f"prompt {prompts.indices[longest]} of {prompts.source} has {len(prompt_ids[longest])} tokens; with "
            f"--max-new-tokens {config.max_new_tokens} it needs {need}, beyond the models' context of {context} tokens "
            "(shorten or drop it, or lower --max-new-tokens)"
        )


def check_prompt_and_stop_rules(config: KLConfig, base: ResolvedModel, ckpt: ResolvedModel) -> str | None:
    """Refuse models whose chat templates or stop tokens differ: forward and reverse KL would then render
    different prompts or stop at different tokens. With `allow_template_mismatch`, the difference."""
    difference = tokenizer.check_prompt_and_stop_rules(base, ckpt, config.chat_template)
    if difference is not None and not config.allow_template_mismatch:
        raise ModelSpecError(
            f"{base.name} and {ckpt.name}: {difference}, so forward and reverse KL would see different prompts or "
            "stop rules (--allow-template-mismatch to measure anyway, recorded in the report)"
        )
    return difference


def fitting(config: KLConfig, prompts: Prompts, base: ResolvedModel, ckpt: ResolvedModel) -> Prompts:
    """`prompts` without those that leave no room for `max_new_tokens` in the models' context (the old-task
    prompts: a long few-shot context is left out, not refused)."""
    from dataclasses import replace

    context = min(filter(None, (context_length(base), context_length(ckpt))), default=None)
    if context is None:
        return prompts
    tok = tokenizer.load_tokenizer(base)
    templated = bool(config.chat_template and tok.chat_template)
    ids = tokenizer.encode(tok, tokenizer.render(tok, list(prompts.texts), config.chat_template), templated)
    keep = [i for i, p in enumerate(ids) if len(p) + config.max_new_tokens <= context]
    pick = lambda values: tuple(values[i] for i in keep) if values else values  # noqa: E731
    return replace(prompts, indices=pick(prompts.indices), texts=pick(prompts.texts), tasks=pick(prompts.tasks))


def make_plan(config: KLConfig, prompts: Prompts, base: ResolvedModel, ckpt: ResolvedModel, backend: Backend) -> Plan:
    """The plan of a KL measurement of `base` vs `ckpt` on `prompts` under `backend` (no compute)."""
    tokenizer.check_same_vocabulary(base, ckpt)
    mismatch = check_prompt_and_stop_rules(config, base, ckpt)
    sampler, other = (ckpt, base) if config.direction == "reverse" else (base, ckpt)
    tok = tokenizer.load_tokenizer(sampler)
    templated = bool(config.chat_template and tok.chat_template)
    rendered = tokenizer.render(tok, list(prompts.texts), config.chat_template)
    prompt_ids = tokenizer.encode(tok, rendered, templated)
    check_lengths(config, prompts, prompt_ids, min(filter(None, (context_length(base), context_length(ckpt))), default=None))
    eos = tokenizer.stop_ids(sampler, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else min(eos)
    sampling = SamplingRequest(
        config.samples_per_prompt, config.max_new_tokens, config.seed, tuple(sorted(eos)), pad, config.runtime.batch_size
    )
    version = backend.version()
    settings = {
        "max_new_tokens": config.max_new_tokens,
        "samples_per_prompt": config.samples_per_prompt,
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 0,
        "seed": config.seed,
        "backend": backend.name,
        "dtype": backend.dtype,
        "batch_size": config.runtime.batch_size,
        **({"engine_version": version} if version else {}),
    }
    key = digest({"sampler": sampler.fingerprint.digest, "prompt_ids": digest(prompt_ids), **settings})
    return Plan(
        config,
        base,
        ckpt,
        sampler,
        other,
        prompts,
        rendered,
        templated,
        prompt_ids,
        sampling,
        backend.device,
        backend.dtype,
        version,
        key,
        min(config.noise_floor_prompts, len(prompt_ids)),
        mismatch,
    )
