"""`forgetbench kl`: sample on new-task prompts from one model, score under both, estimate KL.

Flow: check everything that can be checked without compute (store, models, shared vocabulary,
prompts) → sample responses from the sampling model (cached by its fingerprint, the rendered
prompts, the sampling parameters, seed and backend) → score every (prompt, response) under both
models → per-sequence estimators → bootstrap CIs over prompts → noise floor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forgetbench import __version__
from forgetbench.config import KLConfig
from forgetbench.errors import BackendError, UserInputError
from forgetbench.kl.estimators import ESTIMATORS, sequence_estimates
from forgetbench.kl.prompts import Prompts, choose, read_prompt_file
from forgetbench.models import ResolvedModel, resolve
from forgetbench.progress import Reporter
from forgetbench.schema import SCHEMA_VERSION, Estimate, KLResult
from forgetbench.stats.bootstrap import cluster_mean_ci
from forgetbench.store import Store, digest

SAMPLES_NAMESPACE = "kl-samples-v1"


@dataclass(frozen=True)
class KLRun:
    """A KL result and its per-sample rows (one per prompt × sample)."""

    result: KLResult
    rows: list[dict]
    """prompt_index, source_index, sample_index, response_tokens, eos, and one column per estimator."""


def _validate(config: KLConfig) -> None:
    if (config.prompts is None) == (config.task is None):
        raise UserInputError("give exactly one of --prompts FILE and --task LM_EVAL_TASK")
    unknown = [e for e in config.estimators if e not in ESTIMATORS]
    if unknown or not config.estimators:
        raise UserInputError(f"unknown estimator {unknown[0] if unknown else '(none)'}; choose from {', '.join(ESTIMATORS)}")
    if config.direction not in ("forward", "reverse"):
        raise UserInputError(f"--direction must be forward or reverse, not {config.direction!r}")
    if config.backend != "hf":
        raise UserInputError(f"unknown backend {config.backend!r}; available: hf")
    for name in ("samples_per_prompt", "max_new_tokens", "batch_size"):
        if getattr(config, name) < 1:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least 1")


def _load_prompts(config: KLConfig) -> Prompts:
    if config.prompts is not None:
        return choose(config.prompts, read_prompt_file(Path(config.prompts), config.prompt_field), config.n_prompts, config.seed)
    from forgetbench.prior.prompts import task_prompts

    return choose(f"task:{config.task}", task_prompts(config.task), config.n_prompts, config.seed)


def _sample_cached(
    store: Store, sampler: ResolvedModel, load_sampler, prompt_ids: list[list[int]], eos: set[int], pad: int,
    config: KLConfig, settings: dict, reporter: Reporter,
) -> tuple[list[list[int]], bool]:
    """Responses sampled from `sampler` (from the store when this exact sampling was done before)."""
    import pandas as pd

    from forgetbench.backends import hf_kl

    key = digest({"sampler": sampler.fingerprint.digest, "prompt_ids": digest(prompt_ids), **settings})
    entry = store.get(SAMPLES_NAMESPACE, key)
    if entry is not None:
        frame = pd.read_parquet(entry / "samples.parquet")
        return [list(map(int, r)) for r in frame["response_ids"]], True
    lm = load_sampler()
    expanded = [ids for ids in prompt_ids for _ in range(config.samples_per_prompt)]
    advance = reporter.step(f"sampling from {sampler.name}", len(expanded))
    responses = hf_kl.sample(lm, expanded, config.max_new_tokens, eos, pad, config.seed, advance, config.batch_size)

    def write(folder: Path) -> None:
        pd.DataFrame({"response_ids": responses}).to_parquet(folder / "samples.parquet", index=False)

    store.put(SAMPLES_NAMESPACE, key, write)
    return responses, False


def measure_kl(config: KLConfig, store: Store, reporter: Reporter | None = None) -> KLRun:
    """Measure KL between `config.base` and `config.ckpt` on new-task prompts."""
    from forgetbench import tokenization
    from forgetbench.backends import hf, hf_kl

    reporter = reporter or Reporter()
    started = time.perf_counter()
    _validate(config)
    store.check_writable()
    reporter.message("resolving models")
    base = resolve(config.base, trust_remote_code=config.trust_remote_code)
    ckpt = resolve(config.ckpt, trust_remote_code=config.trust_remote_code)
    tokenization.check_same_vocabulary(base, ckpt)
    prompts = _load_prompts(config)
    sampler, other = (base, ckpt) if config.direction == "forward" else (ckpt, base)
    tok = tokenization.load_tokenizer(sampler)
    templated = bool(config.chat_template and tok.chat_template)
    rendered = tokenization.render(tok, list(prompts.texts), config.chat_template)
    prompt_ids = tokenization.encode(tok, rendered, templated)
    eos = tokenization.stop_ids(sampler, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else min(eos)
    device = hf.default_device() if config.device == "auto" else config.device
    dtype = hf.resolve_dtype(config.dtype, device)
    settings = {
        "max_new_tokens": config.max_new_tokens, "samples_per_prompt": config.samples_per_prompt,
        "temperature": 1.0, "top_p": 1.0, "top_k": 0, "seed": config.seed, "backend": config.backend,
        "dtype": dtype, "batch_size": config.batch_size,
    }
    models: dict[str, object] = {}

    def get(m: ResolvedModel, slot: str):
        if slot not in models:
            reporter.message(f"loading {m.name} ({dtype}, {device})")
            models[slot] = hf_kl.load_model(m, device, dtype)
        return models[slot]

    timings = {}
    t0 = time.perf_counter()
    responses, cached = _sample_cached(
        store, sampler, lambda: get(sampler, "sampler"), prompt_ids, eos, pad, config, settings, reporter
    )
    expanded_prompts = [ids for ids in prompt_ids for _ in range(config.samples_per_prompt)]
    sequences = list(zip(expanded_prompts, responses))
    score_batch = max(1, config.batch_size // 2)

    def scored(q_slot: str, q_model: ResolvedModel, seqs, label: str):
        p_lm, q_lm = get(sampler, "sampler"), get(q_model, q_slot)
        advance = reporter.step(label, len(seqs))
        try:
            return hf_kl.score(p_lm, q_lm, seqs, pad, advance, score_batch)
        except hf_kl.NonFiniteError as exc:
            who = sampler if exc.role == "p" else q_model
            i = exc.index // config.samples_per_prompt
            raise BackendError(
                f"{who.name} produced NaN/inf log-probs on prompt {prompts.indices[i]} of {prompts.source} "
                f"({prompts.texts[i][:60]!r})"
            ) from None

    timings["sampling_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    token_scores = scored("other", other, sequences, f"scoring under {sampler.name} and {other.name}")
    timings["scoring_s"] = time.perf_counter() - t0
    rows = []
    for n, (ts, resp) in enumerate(zip(token_scores, responses)):
        p = n // config.samples_per_prompt
        est = sequence_estimates(ts.kl, ts.logp, ts.logq)
        rows.append({
            "prompt_index": p, "source_index": prompts.indices[p], "sample_index": n % config.samples_per_prompt,
            "response_tokens": len(resp), "eos": bool(resp and resp[-1] in eos),
            **{e: est[e] for e in config.estimators},
        })
    rng = np.random.default_rng(config.seed)
    clusters = np.array([r["prompt_index"] for r in rows])
    total_tokens = max(1, sum(r["response_tokens"] for r in rows))

    def estimate(name: str, rows_: list[dict], clusters_: np.ndarray, tokens: int) -> Estimate:
        values = np.array([r[name] for r in rows_])
        ci = cluster_mean_ci(values, clusters_, rng)
        return Estimate(name, ci.estimate, ci.low, ci.high, float(values.sum() / max(1, tokens)))

    estimates = tuple(estimate(e, rows, clusters, total_tokens) for e in config.estimators)
    noise = None
    n_noise = min(config.noise_floor_prompts, len(prompt_ids))
    t0 = time.perf_counter()
    if n_noise > 0:
        k = n_noise * config.samples_per_prompt
        noise_scores = scored("sampler-copy", sampler, sequences[:k], f"noise floor: {sampler.name} against a second copy")
        noise_rows = [{"full": float(ts.kl.astype(np.float64).sum())} for ts in noise_scores]
        noise = estimate("full", noise_rows, clusters[:k], sum(r["response_tokens"] for r in rows[:k]))
    timings["noise_floor_s"] = time.perf_counter() - t0
    reporter.close()
    result = KLResult(
        schema_version=SCHEMA_VERSION, forgetbench_version=__version__,
        base=base.info(), ckpt=ckpt.info(), direction=config.direction,
        prompts_source=prompts.source, prompts_hash=digest(rendered), chat_template=templated,
        n_prompts=len(prompt_ids), samples_per_prompt=config.samples_per_prompt, max_new_tokens=config.max_new_tokens,
        mean_response_tokens=float(np.mean([len(r) for r in responses])),
        eos_fraction=float(np.mean([r["eos"] for r in rows])),
        estimates=estimates, noise_floor=noise, noise_floor_prompts=n_noise, seed=config.seed,
        samples_cached=cached, backend=config.backend, dtype=dtype, device=device,
        elapsed_s=time.perf_counter() - started, **timings,
    )
    return KLRun(result, rows)


def write_outputs(run: KLRun, out: Path) -> None:
    """`kl.json` (the typed result) and `kl.parquet` (one row per prompt × sample), written atomically."""
    import json

    import pandas as pd

    from forgetbench.store import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    buf = pd.DataFrame(run.rows).to_parquet(index=False)
    atomic_write_bytes(out / "kl.parquet", buf)
    atomic_write_bytes(out / "kl.json", json.dumps(run.result.to_dict(), indent=2).encode())
