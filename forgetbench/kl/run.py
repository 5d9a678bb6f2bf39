"""Run a KL plan: sample from the sampling model (or take the stored samples), score every
(prompt, response) under both models through the backend, then the per-sequence estimators, their
bootstrap CIs over prompts, the noise floor and, below float32, the precision floor.

The precision floor. Two copies of one model in one dtype give bit-identical log-probs, so the noise
floor is 0 in any dtype and cannot see what a low precision does to a KL. In bfloat16/float16 each model
carries its own rounding error (weights and activations), and two models whose weights differ at all
round independently: to second order KL(p̃‖q̃) ≈ KL(p‖q) + KL(p̃‖p) + KL(q̃‖q) (tilde: low precision).
The precision pass scores the noise-floor samples under the sampler at the run's dtype (p) and the same
model in float32 (q), which measures KL(p̃‖p); the checkpoint's own term is taken to be the same size
(same architecture, nearby weights), so the precision floor is 2 × that measurement (mean and CI ends).
A headline KL whose mean is at most the floor's upper CI end is not resolvable at this precision.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from forgetbench import __version__
from forgetbench.backends.base import ModelRef, NonFiniteLogprobs, TokenScores
from forgetbench.backends.device import PRECISION_REFERENCE
from forgetbench.backends.divergences import every_name
from forgetbench.core.errors import BackendError, ModelSpecError
from forgetbench.core.results import SCHEMA_VERSION, Estimate, KLResult, PredictorValue, WeightDistance
from forgetbench.kl import predictors, samples
from forgetbench.kl.estimators import sequence_estimates, token_estimates
from forgetbench.kl.predictors import estimate_of
from forgetbench.models import tokenizer

PRECISION_MODELS = 2
"""Models whose rounding error a comparison carries (base and checkpoint): the precision floor is this many
times the measured KL(sampler at the run's dtype ‖ sampler in float32) (module docstring)."""

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
    """prompt_index, source_index, sample_index, response_tokens, eos, one column per estimator (nats per
    sequence) and per other per-token divergence (`kl_reverse_tok`, `tv`, `js`, `act`: summed along the
    response), `prompt` (the prompt's text before any template), `tokens` (the response as the text each
    token adds, `models.tokenizer.pieces`), `token_kl` (the headline estimator's per-token terms, float32,
    summing to its column up to float32 rounding) and `token_<divergence>` (each divergence per token)."""
    old_rows: list[dict] = field(default_factory=list)
    """The same rows on prompts drawn from the prior suite's items, with their `task` (empty: not measured)."""
    reverse_rows: list[dict] = field(default_factory=list)
    """`--direction both`: the rows of the checkpoint's own samples, `full` = KL(ckpt‖base) per sequence
    (empty otherwise)."""


def divergences_of(plan: Plan) -> tuple[str, ...]:
    """The per-token quantities the main pass asks the backend for: every one (`backends.divergences`) when
    the forward `full` KL is computed (the predictors come from the same pass), `full` alone for a reverse
    run (the other divergences are defined on the base's samples), none without `full`."""
    if "full" not in plan.config.estimators:
        return ()
    return ("full",) if plan.config.direction == "reverse" else every_name()


@dataclass(frozen=True)
class Passes:
    """What the backend produced: responses and per-token scores of the main, noise-floor and
    precision-floor passes (the last empty in float32)."""

    responses: list[list[int]]
    cached: bool
    scores: list[TokenScores]
    noise: list[TokenScores]
    timings: dict[str, float]
    precision: list[TokenScores] = field(default_factory=list)


def nonfinite_error(plan: Plan, exc: NonFiniteLogprobs, who: ResolvedModel) -> BackendError:
    """One line naming the model and the prompt whose log-probs were NaN/inf."""
    i = exc.index // plan.config.samples_per_prompt
    return BackendError(
        f"{who.name} produced NaN/inf log-probs on prompt {plan.prompts.indices[i]} of {plan.prompts.source} "
        f"({plan.prompts.texts[i][:60]!r})"
    )


def _score(
    plan: Plan, backend: Backend, q: ModelRef, sequences: list, reporter: Reporter, divergences: tuple[str, ...] | None = None
) -> list[TokenScores]:
    """Every sequence scored under the sampler and `q`: the per-token `divergences` (default: `full` when it is
    an estimator, as the floors need)."""
    config = plan.config
    if divergences is None:
        divergences = ("full",) if "full" in config.estimators else ()
    try:
        return backend.score(
            ModelRef(plan.sampler),
            q,
            sequences,
            plan.sampling.pad_id,
            divergences,
            max(1, config.runtime.batch_size // 2),
            reporter,
        )
    except NonFiniteLogprobs as exc:
        raise nonfinite_error(plan, exc, plan.sampler if exc.role == "p" else q.model) from None


def _floors(
    plan: Plan, backend: Backend, sequences: list, reporter: Reporter, timings: dict[str, float]
) -> tuple[list[TokenScores], list[TokenScores]]:
    """The noise-floor pass (the sampler against its second copy) and, when the models run below
    float32, the precision-floor pass (the sampler against itself in float32), on the same first
    `n_noise` prompts' samples; both skipped when `n_noise` is 0."""
    k = plan.n_noise * plan.config.samples_per_prompt
    t0 = time.perf_counter()
    noise = _score(plan, backend, ModelRef(plan.sampler, replica=1), sequences[:k], reporter) if k else []
    timings["noise_floor_s"] = time.perf_counter() - t0
    if not k or plan.dtype == PRECISION_REFERENCE:
        return noise, []
    t0 = time.perf_counter()
    precision = _score(plan, backend, ModelRef(plan.sampler, dtype=PRECISION_REFERENCE), sequences[:k], reporter)
    timings["precision_floor_s"] = time.perf_counter() - t0
    return noise, precision


def draw(plan: Plan, backend: Backend, reporter: Reporter) -> list[list[int]]:
    """The KL's responses from the sampling model (a local run, or a distributed executor's job)."""
    return backend.sample(plan.sampler, plan.prompt_ids, plan.sampling, reporter)


def responses_of(plan: Plan, backend: Backend, store: Store, reporter: Reporter) -> tuple[list[list[int]], bool, float]:
    """The plan's responses: from the store when sampled before under the same key, else drawn and stored;
    whether they were stored already, and the seconds it took."""
    t0 = time.perf_counter()
    responses = samples.cached(store, plan.samples_key)
    cached = responses is not None
    if responses is None:
        responses = draw(plan, backend, reporter)
        samples.put(store, plan.samples_key, responses)
    return responses, cached, time.perf_counter() - t0


def run_passes(plan: Plan, backend: Backend, store: Store, reporter: Reporter) -> Passes:
    """Sampling (unless stored), the main scoring pass, the noise-floor and precision-floor passes."""
    return score_passes(plan, backend, *responses_of(plan, backend, store, reporter), reporter)


def score_passes(
    plan: Plan, backend: Backend, responses: list[list[int]], cached: bool, sampling_s: float, reporter: Reporter
) -> Passes:
    """The scoring passes on responses already drawn (`run_passes` here; a distributed executor's job)."""
    timings = {"sampling_s": sampling_s}
    sequences = list(zip(plan.expanded, responses))
    t0 = time.perf_counter()
    scores = _score(plan, backend, ModelRef(plan.other), sequences, reporter, divergences_of(plan))
    timings["scoring_s"] = time.perf_counter() - t0
    noise, precision = _floors(plan, backend, sequences, reporter, timings)
    return Passes(responses, cached, scores, noise, timings, precision)


def _total(terms: np.ndarray | None) -> float:
    return float("nan") if terms is None else float(terms.sum())


def measured_divergences(scores: list[TokenScores]) -> tuple[str, ...]:
    """The other per-token divergences every sequence carries (a backend leaves out what it cannot compute)."""
    if not scores:
        return ()
    return tuple(n for n in scores[0].divergences if all(n in ts.divergences for ts in scores))


def _rows(plan: Plan, passes: Passes) -> list[dict]:
    config, eos = plan.config, set(plan.sampling.stop_ids)
    tok = tokenizer.load_tokenizer(plan.sampler)
    others = measured_divergences(passes.scores)
    tasks = plan.prompts.tasks
    rows: list[dict] = []
    for n, (ts, resp) in enumerate(zip(passes.scores, passes.responses)):
        p = n // config.samples_per_prompt
        terms = token_estimates(ts.kl, ts.logp, ts.logq)
        head = terms[config.headline]
        rows.append(
            {
                "prompt_index": p,
                "source_index": plan.prompts.indices[p],
                **({"task": tasks[p]} if tasks else {}),
                "sample_index": n % config.samples_per_prompt,
                "response_tokens": len(resp),
                "eos": bool(resp and resp[-1] in eos),
                **{e: _total(terms[e]) for e in config.estimators},
                **{d: float(ts.divergences[d].astype(np.float64).sum()) for d in others},
                "prompt": plan.prompts.texts[p],
                "tokens": tokenizer.pieces(tok, list(resp)),
                "token_kl": np.zeros(0, np.float32) if head is None else head.astype(np.float32),  # parquet list<float>
                **{f"token_{d}": ts.divergences[d].astype(np.float32) for d in others},
            }
        )
    return rows


def precision_floor(measured: Estimate) -> Estimate:
    """The precision floor from the measured KL(sampler at the run's dtype ‖ sampler in float32): both
    models of a comparison carry their own rounding error, so `PRECISION_MODELS` × the measurement."""
    m = PRECISION_MODELS
    return Estimate(measured.name, m * measured.mean, m * measured.ci_low, m * measured.ci_high, m * measured.per_token)


def resolvable(headline: Estimate, floor: Estimate | None) -> bool | None:
    """False when the headline KL is within the precision floor (its mean ≤ the floor's upper CI end, or
    ≤ the floor's mean when the floor has no CI: a single prompt); None without a floor (float32)."""
    if floor is None:
        return None
    bound = floor.ci_high if math.isfinite(floor.ci_high) else floor.mean
    return not headline.mean <= bound


def _floor_estimates(
    plan: Plan, passes: Passes, rows: list[dict], clusters: np.ndarray, rng: np.random.Generator
) -> tuple[Estimate | None, Estimate | None, Estimate | None]:
    """Noise floor (headline estimator and k1) and precision floor, each on the first `n_noise` prompts."""
    headline = plan.config.headline

    def estimate(name: str, scores: list[TokenScores]) -> Estimate:
        k = len(scores)
        per_sequence = [sequence_estimates(ts.kl, ts.logp, ts.logq) for ts in scores]
        return estimate_of(name, per_sequence, clusters[:k], sum(r["response_tokens"] for r in rows[:k]), rng)

    noise = estimate(headline, passes.noise) if passes.noise else None
    noise_k1 = estimate("k1", passes.noise) if passes.noise else None
    precision = precision_floor(estimate(headline, passes.precision)) if passes.precision else None
    return noise, noise_k1, precision


@dataclass(frozen=True)
class Extras:
    """What a run measures beside the new-task pass: the same divergences on prior-suite prompts (their plan
    and passes), the weight distance, and what could not be measured, with why."""

    old: tuple[Plan, Passes] | None = None
    reverse: tuple[Plan, Passes] | None = None
    weights: WeightDistance | None = None
    notes: tuple[str, ...] = ()


def _predictors(
    plan: Plan,
    passes: Passes,
    rows: list[dict],
    headline: Estimate,
    extras: Extras,
    side_rows: tuple[list[dict], list[dict]],
    rng: np.random.Generator,
) -> tuple[tuple[PredictorValue, ...], tuple[str, ...]]:
    """The predictors table (catalog order) and the notes on what was asked for but not measured."""
    config, notes = plan.config, list(extras.notes)
    values: list[PredictorValue] = []
    if config.headline == "full":
        values.append(predictors.value("kl_reverse_new" if config.direction == "reverse" else "kl_forward_new", headline))
    others = measured_divergences(passes.scores)
    values += predictors.per_token(rows, "new", others, rng)
    asked = [n for n in divergences_of(plan) if n != "full"]
    notes += [
        f"{n}_new: the {plan.config.runtime.backend} backend's full scorer does not compute it" for n in asked if n not in others
    ]
    old_rows, reverse_rows = side_rows
    if reverse_rows and "full" in config.estimators:
        values.append(predictors.value("kl_reverse_new", predictors.estimate("full", reverse_rows, rng)))
    if extras.old is not None and old_rows:
        old_plan, old_passes = extras.old
        columns = ("full", *measured_divergences(old_passes.scores)) if "full" in old_plan.config.estimators else ()
        values += predictors.per_token(old_rows, "old", columns, rng)
    if extras.weights is not None:
        values += predictors.weights(extras.weights)
    return predictors.in_catalog_order(values), tuple(notes)


def summarise(plan: Plan, passes: Passes, backend: Backend, elapsed_s: float, extras: Extras | None = None) -> KLRun:
    """The typed result: every requested estimator with its CI over prompts, the noise floor, the
    precision floor, and the predictors table."""
    config = plan.config
    extras = extras or Extras()
    rows = _rows(plan, passes)
    rng = np.random.default_rng(config.seed)
    clusters = np.array([r["prompt_index"] for r in rows])
    tokens = sum(r["response_tokens"] for r in rows)
    estimates = tuple(estimate_of(e, rows, clusters, tokens, rng) for e in config.estimators)
    noise, noise_k1, precision = _floor_estimates(plan, passes, rows, clusters, rng)
    headline = next(e for e in estimates if e.name == config.headline)
    old_rows = _rows(*extras.old) if extras.old is not None else []
    reverse_rows = _rows(*extras.reverse) if extras.reverse is not None else []
    table, notes = _predictors(plan, passes, rows, headline, extras, (old_rows, reverse_rows), rng)
    result = KLResult(
        schema_version=SCHEMA_VERSION,
        forgetbench_version=__version__,
        base=plan.base.info(),
        ckpt=plan.ckpt.info(),
        direction="forward" if config.direction == "both" else config.direction,  # both: the headline is forward
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
        precision_floor=precision,
        precision_resolvable=resolvable(headline, precision),
        precision_floor_s=passes.timings.get("precision_floor_s", 0.0),
        template_mismatch=plan.template_mismatch,
        predictors=table,
        old_task_prompts=len(extras.old[0].prompt_ids) if extras.old is not None else 0,
        predictor_notes=notes,
    )
    return KLRun(result, rows, old_rows, reverse_rows)


def weight_distance(plan: Plan, reporter: Reporter) -> tuple[WeightDistance | None, tuple[str, ...]]:
    """The checkpoint's weight distance from the base, or None and a note saying why it was not computed
    (weights it cannot compare: a GGUF file, a DoRA adapter, another architecture)."""
    from forgetbench.models.weight_distance import weight_distance as distance

    reporter.message("weight distances")
    try:
        return distance(plan.base, plan.ckpt), ()
    except ModelSpecError as exc:
        reporter.message(f"weight distances not computed: {exc}")
        return None, tuple(f"{name}: not computed ({exc})" for name in ("weight_frobenius", "weight_spectral"))


def execute(plan: Plan, backend: Backend, store: Store, reporter: Reporter) -> KLRun:
    """Run `plan`, its `old` plan when it has one (the same models on prompts from the prior suite's items;
    their divergences only) and the weight distance (models loaded as needed; the caller owns the backend
    and closes it); return the typed result."""
    started = time.perf_counter()
    backend.expect([plan.base, plan.ckpt])
    old, reverse = plan.old, plan.reverse
    try:
        passes = run_passes(plan, backend, store, reporter)
        if reverse is not None:
            reporter.message("reverse KL: sampling from the checkpoint")
        reverse_passes = run_passes(reverse, backend, store, reporter) if reverse is not None else None
        if old is not None:
            reporter.message(f"old-task prompts ({old.prompts.source}): {len(old.prompt_ids)}")
        old_passes = run_passes(old, backend, store, reporter) if old is not None else None
        weights, notes = weight_distance(plan, reporter) if plan.config.weight_distance else (None, ())
    finally:
        reporter.close()
    extras = Extras(
        (old, old_passes) if old is not None and old_passes is not None else None,
        (reverse, reverse_passes) if reverse is not None and reverse_passes is not None else None,
        weights,
        notes,
    )
    return summarise(plan, passes, backend, time.perf_counter() - started, extras)
