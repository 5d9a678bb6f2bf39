"""KL passes on the transformers backend: sample with `hf_kl.sample`, score with the chunked scorer."""

from __future__ import annotations

import time

from forgetbench.kl.prompts import Prompts
from forgetbench.kl.run import Passes, Plan, cached_samples, nonfinite_error, put_samples
from forgetbench.models import ResolvedModel
from forgetbench.progress import Reporter
from forgetbench.store import Store


def run(plan: Plan, prompts: Prompts, store: Store, reporter: Reporter) -> Passes:
    from forgetbench.backends import hf_kl

    config, sampler = plan.config, plan.sampler
    models: dict[str, object] = {}

    def get(m: ResolvedModel, slot: str):
        if slot not in models:
            reporter.message(f"loading {m.name} ({plan.dtype}, {plan.device})")
            models[slot] = hf_kl.load_model(m, plan.device, plan.dtype)
        return models[slot]

    timings = {}
    t0 = time.perf_counter()
    responses = cached_samples(store, plan.samples_key)
    cached = responses is not None
    if not cached:
        advance = reporter.step(f"sampling from {sampler.name}", len(plan.expanded))
        responses = hf_kl.sample(
            get(sampler, "sampler"), plan.expanded, config.max_new_tokens, plan.eos, plan.pad, config.seed,
            advance, config.batch_size,
        )
        put_samples(store, plan.samples_key, responses)
    timings["sampling_s"] = time.perf_counter() - t0
    sequences = list(zip(plan.expanded, responses))

    def scored(slot: str, q_model: ResolvedModel, seqs, label: str):
        p_lm, q_lm = get(sampler, "sampler"), get(q_model, slot)
        advance = reporter.step(label, len(seqs))
        try:
            return hf_kl.score(p_lm, q_lm, seqs, plan.pad, advance, max(1, config.batch_size // 2))
        except hf_kl.NonFiniteError as exc:
            raise nonfinite_error(plan, prompts, exc, sampler if exc.role == "p" else q_model) from None

    t0 = time.perf_counter()
    scores = scored("other", plan.other, sequences, f"scoring under {sampler.name} and {plan.other.name}")
    timings["scoring_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    k = plan.n_noise * config.samples_per_prompt
    noise = scored("sampler-copy", sampler, sequences[:k], f"noise floor: {sampler.name} against a second copy") if k else []
    timings["noise_floor_s"] = time.perf_counter() - t0
    return Passes(responses, cached, scores, noise, timings)
