"""KL passes on the vLLM backend. Each engine runs in its own worker process, one after another:

1. the sampler's engine samples (unless the samples are in the store) and re-scores every
   prompt + response with `prompt_logprobs` → log p(y_t);
2. the other model's engine re-scores the same token ids → log q(y_t); k1/k3 thus come from vLLM;
3. `full` (when asked) comes from the transformers scorer applied to vLLM's samples (default), or
   from full-vocabulary prompt log-probs of both engines (`--full-scorer vllm`; far slower, README);
4. the noise floor repeats 2 with a fresh engine of the sampler (and `full` against a second copy).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from forgetbench.backends import vllm
from forgetbench.backends.hf_kl import TokenScores
from forgetbench.kl.prompts import Prompts
from forgetbench.kl.run import Passes, Plan, cached_samples, nonfinite_error, put_samples
from forgetbench.models import ResolvedModel
from forgetbench.progress import Reporter
from forgetbench.store import Store


def _seeds(seed: int, n: int) -> list[int]:
    """One sampling seed per prompt, independent of how requests are batched."""
    return [int(np.random.SeedSequence([seed, i]).generate_state(1)[0]) for i in range(n)]


def _hf_full(plan: Plan, prompts: Prompts, sequences, q_model: ResolvedModel, label: str, reporter: Reporter):
    """Per-token full KL from the transformers scorer (sampler vs `q_model`)."""
    from forgetbench.backends import hf_kl

    reporter.message(f"loading {plan.sampler.name} and {q_model.name} for the full-vocabulary scorer (transformers)")
    p_lm = hf_kl.load_model(plan.sampler, plan.device, plan.dtype)
    q_lm = hf_kl.load_model(q_model, plan.device, plan.dtype)
    advance = reporter.step(label, len(sequences))
    try:
        scores = hf_kl.score(p_lm, q_lm, sequences, plan.pad, advance, max(1, plan.config.batch_size // 2))
    except hf_kl.NonFiniteError as exc:
        raise nonfinite_error(plan, prompts, exc, plan.sampler if exc.role == "p" else q_model) from None
    del p_lm, q_lm
    return [s.kl for s in scores]


def _check_finite(plan: Plan, prompts: Prompts, logprobs: list[list[float]], who: ResolvedModel) -> list[np.ndarray]:
    from forgetbench.backends.hf_kl import NonFiniteError

    arrays = [np.asarray(lp, dtype=np.float32) for lp in logprobs]
    for i, a in enumerate(arrays):
        if not np.isfinite(a).all():
            raise nonfinite_error(plan, prompts, NonFiniteError("p", i), who)
    return arrays


def run(plan: Plan, prompts: Prompts, store: Store, reporter: Reporter) -> Passes:
    config, sampler, other = plan.config, plan.sampler, plan.other
    need_full = "full" in config.estimators
    vllm_full = need_full and config.full_scorer == "vllm"
    longest = max(len(p) for p in plan.prompt_ids) + config.max_new_tokens + 1

    def job(model: ResolvedModel, **parts) -> dict:
        kwargs = vllm.engine_kwargs(model, config.vllm, plan.dtype, plan.device, longest)
        return {"kind": "kl", "label": model.name, "engine": kwargs, "full": "none", **parts}

    tmp = Path(tempfile.mkdtemp(prefix="fb-vllm-full-"))
    full_path = str(tmp / "sampler_logprobs.npy")
    timings = {}
    try:
        t0 = time.perf_counter()
        responses = cached_samples(store, plan.samples_key)
        cached = responses is not None
        starts = [len(p) for p in plan.expanded]
        full_write = {"full": "write", "full_path": full_path} if vllm_full else {}
        if cached:
            seqs = [p + r for p, r in zip(plan.expanded, responses)]
            res = vllm.run_worker(job(sampler, score={"sequences": seqs, "starts": starts}, **full_write), sampler.name, reporter)
        else:
            sample = {
                "prompts": plan.prompt_ids, "n": config.samples_per_prompt, "max_tokens": config.max_new_tokens,
                "seeds": _seeds(config.seed, len(plan.prompt_ids)), "stop_ids": sorted(plan.eos),
            }
            res = vllm.run_worker(job(sampler, sample=sample, score={}, **full_write), sampler.name, reporter)
            responses = res["responses"]
            put_samples(store, plan.samples_key, responses)
            seqs = [p + r for p, r in zip(plan.expanded, responses)]
        logp = _check_finite(plan, prompts, res["logprobs"], sampler)
        timings["sampling_s"] = time.perf_counter() - t0

        def against(q_model: ResolvedModel, n: int, label: str) -> list[TokenScores]:
            full = {"full": "kl", "full_path": full_path} if vllm_full else {}
            r = vllm.run_worker(job(q_model, score={"sequences": seqs[:n], "starts": starts[:n]}, **full), q_model.name, reporter)
            logq = _check_finite(plan, prompts, r["logprobs"], q_model)
            if vllm_full:
                kl = [np.asarray(x, dtype=np.float32) for x in r["kl"]]
            elif need_full:
                kl = _hf_full(plan, prompts, list(zip(plan.expanded[:n], responses[:n])), q_model, label, reporter)
            else:
                kl = [None] * n
            return [TokenScores(k, p, q) for k, p, q in zip(kl, logp[:n], logq)]

        t0 = time.perf_counter()
        scores = against(other, len(seqs), f"full KL: {sampler.name} vs {other.name} (transformers)")
        timings["scoring_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        k = plan.n_noise * config.samples_per_prompt
        noise = against(sampler, k, f"noise floor: {sampler.name} against a second copy (transformers)") if k else []
        timings["noise_floor_s"] = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Passes(responses, cached, scores, noise, timings)
