"""Run a KL plan: sample from the sampling model (or take the stored samples), score every
(prompt, response) under both models through the backend, then the per-sequence estimators, their
bootstrap CIs over prompts and the noise floor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from forgetbench import __version__
from forgetbench.backends.base import ModelRef, NonFiniteLogprobs, TokenScores
from forgetbench.core.errors import BackendError
from forgetbench.core.results import SCHEMA_VERSION, Estimate, KLResult
from forgetbench.kl import samples
from forgetbench.kl.estimators import sequence_estimates
from forgetbench.stats.bootstrap import cluster_mean_ci

if TYPE_CHECKING:
    from forgetbench.backends.base import Backend
    from forgetbench.core.model import ResolvedModel
    from forgetbench.core.progress import Reporter
    from forgetbench.core.store import Store
    from forgetbench.kl.plan import Plan


@dataclass(frozen=True)
class KLRun:
    """A KL result and its per-sample rows (one per prompt × sample)."""

    result: KLResult
    rows: list[dict]
    """prompt_index, source_index, sample_index, response_tokens, eos, and one column per estimator."""


@dataclass(frozen=True)
class Passes:
    """What the backend produced: responses and per-token scores of the main and noise-floor passes."""

    responses: list[list[int]]
    cached: bool
    scores: list[TokenScores]
    noise: list[TokenScores]
    timings: dict[str, float]


def nonfinite_error(plan: Plan, exc: NonFiniteLogprobs, who: ResolvedModel) -> BackendError:
    """One line naming the model and the prompt whose log-probs were NaN/inf."""
    i = exc.index // plan.config.samples_per_prompt
    return BackendError(
        f"{who.name} produced NaN/inf log-probs on prompt {plan.prompts.indices[i]} of {plan.prompts.source} "
        f"({plan.prompts.texts[i][:60]!r})"
    )


def _score(plan: Plan, backend: Backend, q: ModelRef, sequences: list, reporter: Reporter) -> list[TokenScores]:
    config = plan.config
    try:
        return backend.score(
            ModelRef(plan.sampler),
            q,
            sequences,
            plan.sampling.pad_id,
            "full" in config.estimators,
            max(1, config.runtime.batch_size // 2),
            reporter,
        )
    except NonFiniteLogprobs as exc:
        raise nonfinite_error(plan, exc, plan.sampler if exc.role == "p" else q.model) from None


def run_passes(plan: Plan, backend: Backend, store: Store, reporter: Reporter) -> Passes:
    """Sampling (unless stored), the main scoring pass and the noise-floor pass."""
    timings = {}
    t0 = time.perf_counter()
    responses = samples.cached(store, plan.samples_key)
    cached = responses is not None
    if responses is None:
        responses = backend.sample(plan.sampler, plan.prompt_ids, plan.sampling, reporter)
        samples.put(store, plan.samples_key, responses)
    timings["sampling_s"] = time.perf_counter() - t0
    sequences = list(zip(plan.expanded, responses))
    t0 = time.perf_counter()
    scores = _score(plan, backend, ModelRef(plan.other), sequences, reporter)
    timings["scoring_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    k = plan.n_noise * plan.config.samples_per_prompt
    noise = _score(plan, backend, ModelRef(plan.sampler, replica=1), sequences[:k], reporter) if k else []
    timings["noise_floor_s"] = time.perf_counter() - t0
    return Passes(responses, cached, scores, noise, timings)


def _rows(plan: Plan, passes: Passes) -> list[dict]:
    config, eos = plan.config, set(plan.sampling.stop_ids)
    rows: list[dict] = []
    for n, (ts, resp) in enumerate(zip(passes.scores, passes.responses)):
        p = n // config.samples_per_prompt
        est = sequence_estimates(ts.kl, ts.logp, ts.logq)
        rows.append(
            {
                "prompt_index": p,
                "source_index": plan.prompts.indices[p],
                "sample_index": n % config.samples_per_prompt,
                "response_tokens": len(resp),
                "eos": bool(resp and resp[-1] in eos),
                **{e: est[e] for e in config.estimators},
            }
        )
    return rows


def _estimate(name: str, values: list[dict], clusters: np.ndarray, tokens: int, rng: np.random.Generator) -> Estimate:
    v = np.array([r[name] for r in values])
    ci = cluster_mean_ci(v, clusters, rng)
    return Estimate(name, ci.estimate, ci.low, ci.high, float(v.sum() / max(1, tokens)))


def summarise(plan: Plan, passes: Passes, backend: Backend, elapsed_s: float) -> KLRun:
    """The typed result: every requested estimator with its CI over prompts, and the noise floor."""
    config = plan.config
    rows = _rows(plan, passes)
    rng = np.random.default_rng(config.seed)
    clusters = np.array([r["prompt_index"] for r in rows])
    tokens = sum(r["response_tokens"] for r in rows)
    estimates = tuple(_estimate(e, rows, clusters, tokens, rng) for e in config.estimators)
    noise = noise_k1 = None
    if passes.noise:
        k = len(passes.noise)
        noise_rows = [sequence_estimates(ts.kl, ts.logp, ts.logq) for ts in passes.noise]
        noise_tokens = sum(r["response_tokens"] for r in rows[:k])
        noise = _estimate(config.headline, noise_rows, clusters[:k], noise_tokens, rng)
        noise_k1 = _estimate("k1", noise_rows, clusters[:k], noise_tokens, rng)
    result = KLResult(
        schema_version=SCHEMA_VERSION,
        forgetbench_version=__version__,
        base=plan.base.info(),
        ckpt=plan.ckpt.info(),
        direction=config.direction,
        prompts_source=plan.prompts.source,
        prompts_hash=plan.prompts_hash,
        chat_template=plan.templated,
        n_prompts=len(plan.prompt_ids),
        samples_per_prompt=config.samples_per_prompt,
        max_new_tokens=config.max_new_tokens,
        mean_response_tokens=float(np.mean([len(r) for r in passes.responses])),
        eos_fraction=float(np.mean([r["eos"] for r in rows])),
        estimates=estimates,
        headline=config.headline,
        noise_floor=noise,
        noise_floor_prompts=plan.n_noise,
        seed=config.seed,
        samples_cached=passes.cached,
        backend=backend.name,
        dtype=plan.dtype,
        device=plan.device,
        elapsed_s=elapsed_s,
        noise_floor_k1=noise_k1,
        full_scorer=backend.full_scorer() if "full" in config.estimators else None,
        engine_version=plan.engine_version,
        sampling_s=passes.timings["sampling_s"],
        scoring_s=passes.timings["scoring_s"],
        noise_floor_s=passes.timings["noise_floor_s"],
    )
    return KLRun(result, rows)


def execute(plan: Plan, backend: Backend, store: Store, reporter: Reporter) -> KLRun:
    """Run `plan` (models loaded as needed and released at the end) and return the typed result."""
    started = time.perf_counter()
    try:
        passes = run_passes(plan, backend, store, reporter)
    finally:
        backend.close()
        reporter.close()
    return summarise(plan, passes, backend, time.perf_counter() - started)
