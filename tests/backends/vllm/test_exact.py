"""vLLM sampling and log-probs against enumeration on tiny models (6-token vocabulary, 3-step
responses, 156 possible responses): vLLM's samples follow the model's own distribution at
temperature 1, its prompt log-probs are the raw log-softmax the estimators need (equal to the
transformers values), k1/k3 from vLLM's log-probs contain the exact sequence-level KL, and every
per-token divergence the worker computes from vLLM's full rows (`FullRows` reference/compare) equals
the transformers scorer's on every enumerated response."""

from __future__ import annotations

import numpy as np
import pytest

from forgetbench.backends.divergences import DIVERGENCES, every_name
from forgetbench.backends.hf import scorer as hf_scorer
from forgetbench.backends.vllm import process as vllm
from forgetbench.backends.vllm.protocol import FullRows, PromptLogprobs, Sample, StartEngine
from forgetbench.core.progress import Reporter
from tests.kl.test_exact import EOS, PAD, PROMPT, T, V, all_responses
from tests.tiny import tiny_lm

pytestmark = pytest.mark.vllm
N = 10000  # 4 requests × 2500 samples, each request with its own seed


def _tiny(folder, seed: int, noise: float = 0.0):
    """A tiny Llama vLLM's CPU attention accepts (head size 32), saved without a tokenizer."""
    import torch

    model = tiny_lm(V, seed=0, init_std=0.25, hidden_size=64, intermediate_size=64, eos=EOS, pad=PAD)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * noise)
    model.save_pretrained(folder, safe_serialization=True)
    return model


def _engine(folder) -> dict:
    return {
        "model": str(folder),
        "skip_tokenizer_init": True,
        "dtype": "float32",
        "max_model_len": 16,
        "enforce_eager": True,
        "gpu_memory_utilization": vllm.cpu_memory_fraction(),
        "seed": 0,
    }


def _engine_jobs(folder, label: str, *requests):
    """Requests, in order, to one fresh worker process speaking the typed protocol (as the backend does);
    a request may be a function of the previous reply. Full next-token rows are allowed (`FullRows`)."""
    worker = vllm.WorkerProcess(label, StartEngine(_engine(folder), -1, False, "auto"), Reporter(), engine_in_worker=True)
    try:
        replies = []
        for r in requests:
            replies.append(worker.request(r(replies[-1]) if callable(r) else r, Reporter()))
        return replies
    finally:
        worker.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-vllm")
    base = _tiny(root / "base", seed=0)
    ckpt = _tiny(root / "ckpt", seed=1, noise=0.05)
    ys = all_responses()
    seqs = [PROMPT + y for y in ys]
    starts = [len(PROMPT)] * len(ys)
    seeds = [int(x) for x in np.random.SeedSequence(2026).generate_state(4)]
    rows = str(root / "rows.npy")
    drawn, scored, _ = _engine_jobs(  # one engine of the base samples, scores its samples, writes its full rows
        root / "base",
        "tiny base",
        Sample([PROMPT] * 4, N // 4, T, seeds, [EOS]),
        lambda reply: PromptLogprobs([PROMPT + r for r in reply.responses], [len(PROMPT)] * N, None),
        PromptLogprobs(seqs, starts, FullRows(rows, "reference")),
    )
    sampled, base_lp = drawn.responses, scored.logprobs
    sampled_seqs = [PROMPT + r for r in sampled]
    c_reply, compared = _engine_jobs(
        root / "ckpt",
        "tiny ckpt",
        PromptLogprobs(seqs + sampled_seqs, starts + [len(PROMPT)] * N, None),
        PromptLogprobs(seqs, starts, FullRows(rows, "compare", tuple(DIVERGENCES))),
    )
    c = c_reply.logprobs
    hf = hf_scorer.score(base, ckpt, [(PROMPT, y) for y in ys], PAD, batch_size=64, divergences=every_name())
    return {
        "ys": ys,
        "base": {"responses": sampled, "logprobs": base_lp},
        "ckpt_all": c[: len(ys)],
        "ckpt_sampled": c[len(ys) :],
        "compared": compared.divergences,
        "hf": hf,
    }


def test_vllm_samples_follow_the_model_distribution(runs):
    ys, responses = runs["ys"], runs["base"]["responses"]
    assert len(responses) == N and all(len(r) <= T and (len(r) == T or r[-1] == EOS) for r in responses)
    p = np.exp([s.logp.astype(np.float64).sum() for s in runs["hf"]])
    assert p.sum() == pytest.approx(1.0, abs=1e-5)
    index = {tuple(y): i for i, y in enumerate(ys)}
    freq = np.bincount([index[tuple(r)] for r in responses], minlength=len(ys)) / N
    assert np.abs(freq - p).max() < 0.02


def test_vllm_prompt_logprobs_are_the_raw_log_softmax(runs):
    """vLLM's log q(y_t) for every enumerated response equals the transformers log-softmax."""
    vllm_q = np.concatenate([np.asarray(x) for x in runs["ckpt_all"]])
    hf_q = np.concatenate([s.logq for s in runs["hf"]])
    assert vllm_q.shape == hf_q.shape
    assert np.abs(vllm_q - hf_q).max() < 1e-4


def test_k1_k3_from_vllm_logprobs_contain_the_exact_kl(runs):
    from forgetbench.kl.estimators import sequence_estimates

    hf = runs["hf"]
    p = np.exp([s.logp.astype(np.float64).sum() for s in hf])
    exact = float(np.sum(p * np.array([(s.logp.astype(np.float64) - s.logq).sum() for s in hf])))
    assert exact > 0.05
    logp = [np.asarray(x) for x in runs["base"]["logprobs"]]
    logq = [np.asarray(x) for x in runs["ckpt_sampled"]]
    est = [sequence_estimates(None, a, b) for a, b in zip(logp, logq)]
    for name in ("k1", "k3"):
        values = np.array([e[name] for e in est])
        z = (values.mean() - exact) / (values.std() / np.sqrt(N))
        assert abs(z) < 3, (name, values.mean(), exact, z)  # unbiased: within 3 standard errors


def test_every_divergence_from_vllm_rows_equals_the_transformers_scorer(runs):
    """The worker's per-token divergences of the checkpoint's full vLLM rows from the base's (`full`,
    `kl_reverse_tok`, `tv`, `js`; never `act`, which rows cannot give) equal the transformers scorer's on
    every enumerated response within 1e-4, and `full` summed along a response and averaged over the
    base's exact response distribution is the exact sequence-level KL (the chain rule)."""
    names = list(DIVERGENCES)
    compared, hf = runs["compared"], runs["hf"]
    assert compared is not None and len(compared) == len(hf) == len(runs["ys"])
    for got, want in zip(compared, hf, strict=True):
        assert list(got) == names
        np.testing.assert_allclose(got["full"], want.kl, atol=1e-4)
        for name in names[1:]:
            np.testing.assert_allclose(got[name], want.divergences[name], atol=1e-4, err_msg=name)
    p = np.exp([s.logp.astype(np.float64).sum() for s in hf])
    exact = float(np.sum(p * np.array([(s.logp.astype(np.float64) - s.logq).sum() for s in hf])))
    assert float(np.sum(p * np.array([sum(g["full"]) for g in compared]))) == pytest.approx(exact, abs=1e-4)
    for name in names:  # different models: not vacuous
        assert max(max(g[name]) for g in compared) > 1e-3, name
