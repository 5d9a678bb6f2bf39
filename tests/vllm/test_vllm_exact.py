"""vLLM sampling and log-probs against enumeration on tiny models (6-token vocabulary, 3-step
responses, 156 possible responses): vLLM's samples follow the model's own distribution at
temperature 1, its prompt log-probs are the raw log-softmax the estimators need (equal to the
transformers values), and k1/k3 from vLLM's log-probs contain the exact sequence-level KL."""

from __future__ import annotations

import numpy as np
import pytest

from forgetbench.backends import hf_kl, vllm
from forgetbench.progress import Reporter
from tests.test_kl_exact import EOS, PAD, PROMPT, T, V, all_responses

pytestmark = pytest.mark.vllm
N = 10000  # 4 requests × 2500 samples, each request with its own seed


def _tiny(folder, seed: int, noise: float = 0.0):
    """A tiny Llama vLLM's CPU attention accepts (head size 32), saved without a tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=V, hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=64, initializer_range=0.25, tie_word_embeddings=False,
        bos_token_id=0, eos_token_id=EOS, pad_token_id=PAD,
    )
    model = LlamaForCausalLM(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * noise)
    model.save_pretrained(folder, safe_serialization=True)
    return model


def _engine(folder) -> dict:
    return {"model": str(folder), "skip_tokenizer_init": True, "dtype": "float32", "max_model_len": 16,
            "enforce_eager": True, "gpu_memory_utilization": vllm.cpu_memory_fraction(), "seed": 0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-vllm")
    base = _tiny(root / "base", seed=0)
    ckpt = _tiny(root / "ckpt", seed=1, noise=0.05)
    ys = all_responses()
    seqs = [PROMPT + y for y in ys]
    starts = [len(PROMPT)] * len(ys)
    seeds = [int(x) for x in np.random.SeedSequence(2026).generate_state(4)]
    sample = {"prompts": [PROMPT] * 4, "n": N // 4, "max_tokens": T, "seeds": seeds, "stop_ids": [EOS]}
    b = vllm.run_worker({"kind": "kl", "label": "tiny base", "engine": _engine(root / "base"), "full": "none",
                         "sample": sample, "score": {}}, "tiny base", Reporter())
    sampled = [PROMPT + r for r in b["responses"]]
    c = vllm.run_worker({"kind": "kl", "label": "tiny ckpt", "engine": _engine(root / "ckpt"), "full": "none",
                         "score": {"sequences": seqs + sampled, "starts": starts + [len(PROMPT)] * N}}, "tiny ckpt", Reporter())
    hf = hf_kl.score(base, ckpt, [(PROMPT, y) for y in ys], PAD, batch_size=64)
    return {"ys": ys, "base": b, "ckpt_all": c["logprobs"][: len(ys)], "ckpt_sampled": c["logprobs"][len(ys):], "hf": hf}


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
