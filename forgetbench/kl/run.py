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
BACKENDS = ("hf", "vllm")


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
    if config.backend not in BACKENDS:
        raise UserInputError(f"unknown backend {config.backend!r}; available: {', '.join(BACKENDS)}")
    if config.full_scorer not in ("hf", "vllm") or (config.full_scorer == "vllm" and config.backend != "vllm"):
        raise UserInputError(f"--full-scorer must be hf, or vllm with --backend vllm (got {config.full_scorer!r})")
    for name in ("samples_per_prompt", "max_new_tokens", "batch_size"):
        if getattr(config, name) < 1:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least 1")


def _load_prompts(config: KLConfig) -> Prompts:
    if config.prompts is not None:
        return choose(config.prompts, read_prompt_file(Path(config.prompts), config.prompt_field), config.n_prompts, config.seed)
    from forgetbench.prior.prompts import task_prompts

    return choose(f"task:{config.task}", task_prompts(config.task), config.n_prompts, config.seed)


@dataclass(frozen=True)
class Plan:
    """Everything a backend pass needs, decided before any compute."""

    config: KLConfig
    sampler: ResolvedModel
    """The model responses are drawn from (the base for forward KL)."""
    other: ResolvedModel
    prompt_ids: list[list[int]]
    """Rendered, tokenised prompts (one per chosen prompt)."""
    eos: set[int]
    pad: int
    device: str
    dtype: str
    samples_key: str
    """Store key of the sampled responses."""
    n_noise: int
    """Prompts in the noise-floor pass (0: skipped)."""

    @property
    def expanded(self) -> list[list[int]]:
        """Prompt ids repeated `samples_per_prompt` times, prompt-major (the order of responses)."""
        return [ids for ids in self.prompt_ids for _ in range(self.config.samples_per_prompt)]


@dataclass(frozen=True)
class Passes:
    """What a backend returns: responses and per-token scores for the main and noise-floor passes."""

    responses: list[list[int]]
    cached: bool
    scores: list
    """TokenScores per (prompt, sample), sampler vs other."""
    noise: list
    """TokenScores of the first `n_noise` prompts' samples, sampler vs a second sampler."""
    timings: dict[str, float]


def cached_samples(store: Store, key: str) -> list[list[int]] | None:
    """Responses sampled before under exactly these settings, or None."""
    import pandas as pd

    entry = store.get(SAMPLES_NAMESPACE, key)
    if entry is None:
        return None
    return [list(map(int, r)) for r in pd.read_parquet(entry / "samples.parquet")["response_ids"]]


def put_samples(store: Store, key: str, responses: list[list[int]]) -> None:
    import pandas as pd

    store.put(SAMPLES_NAMESPACE, key, lambda folder: pd.DataFrame({"response_ids": responses}).to_parquet(
        folder / "samples.parquet", index=False))


def nonfinite_error(plan: Plan, prompts: Prompts, exc, who: ResolvedModel) -> BackendError:
    """One line naming the model and the prompt whose log-probs were NaN/inf."""
    i = exc.index // plan.config.samples_per_prompt
    return BackendError(
        f"{who.name} produced NaN/inf log-probs on prompt {prompts.indices[i]} of {prompts.source} "
        f"({prompts.texts[i][:60]!r})"
    )


def measure_kl(config: KLConfig, store: Store, reporter: Reporter | None = None) -> KLRun:
    """Measure KL between `config.base` and `config.ckpt` on new-task prompts."""
    from forgetbench import tokenization
    from forgetbench.backends import hf

    reporter = reporter or Reporter()
    started = time.perf_counter()
    _validate(config)
    store.check_writable()
    engine_version = None
    if config.backend == "vllm":
        from forgetbench.backends import vllm

        engine_version = vllm.version()
        vllm.check_options(config.vllm)
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
        **({"engine_version": engine_version} if engine_version else {}),
    }
    key = digest({"sampler": sampler.fingerprint.digest, "prompt_ids": digest(prompt_ids), **settings})
    plan = Plan(config, sampler, other, prompt_ids, eos, pad, device, dtype, key,
                min(config.noise_floor_prompts, len(prompt_ids)))
    if config.backend == "vllm":
        from forgetbench.kl import vllm_pass as backend_pass
    else:
        from forgetbench.kl import hf_pass as backend_pass
    passes = backend_pass.run(plan, prompts, store, reporter)
    responses = passes.responses
    rows = []
    for n, (ts, resp) in enumerate(zip(passes.scores, responses)):
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
    noise = noise_k1 = None
    if passes.noise:
        k = len(passes.noise)
        noise_rows = [sequence_estimates(ts.kl, ts.logp, ts.logq) for ts in passes.noise]
        noise_tokens = sum(r["response_tokens"] for r in rows[:k])
        noise = estimate(config.estimators[0], noise_rows, clusters[:k], noise_tokens)
        noise_k1 = estimate("k1", noise_rows, clusters[:k], noise_tokens)
    reporter.close()
    result = KLResult(
        schema_version=SCHEMA_VERSION, forgetbench_version=__version__,
        base=base.info(), ckpt=ckpt.info(), direction=config.direction,
        prompts_source=prompts.source, prompts_hash=digest(rendered), chat_template=templated,
        n_prompts=len(prompt_ids), samples_per_prompt=config.samples_per_prompt, max_new_tokens=config.max_new_tokens,
        mean_response_tokens=float(np.mean([len(r) for r in responses])),
        eos_fraction=float(np.mean([r["eos"] for r in rows])),
        estimates=estimates, noise_floor=noise, noise_floor_prompts=plan.n_noise, seed=config.seed,
        samples_cached=passes.cached, backend=config.backend, dtype=dtype, device=device,
        elapsed_s=time.perf_counter() - started, noise_floor_k1=noise_k1,
        full_scorer=("hf" if config.backend == "hf" else config.full_scorer) if "full" in config.estimators else None,
        engine_version=engine_version, **passes.timings,
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
