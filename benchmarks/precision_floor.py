"""The precision floor on a real model: SmolLM2-135M against a copy with N(0, σ=1e-4) noise on every
weight, `forgetbench kl` in float32 and in a low precision (bfloat16 by default), on CPU.

    .venv/bin/python benchmarks/precision_floor.py [--noisy /tmp/noisy] [--n-prompts 32] [--max-new-tokens 64]
                                                   [--dtypes float32,bfloat16] [--terms]

The noisy copy is written once to `--noisy` (never inside the repository). Each run's headline KL, noise
floor, precision floor, resolvability and timings are printed as one JSON line per dtype, then the
weight memory of the transformers KL pass by dtype, computed from parameter counts (the pass keeps the
base, the checkpoint and the noise floor's second copy loaded, and below float32 the float32 copy too).

With --terms, the low-precision dtypes' KLs are also split into the terms of the second-order model the
precision floor rests on, on the low-precision sampler's own responses (transformers scorer, no store):
KL(p̃‖q̃) vs KL(p̃‖p) + KL(q̃‖q) + KL(p‖q), with p̃ the base and q̃ the noisy copy in that dtype. forgetbench
measures only KL(p̃‖p) and takes KL(q̃‖q) to be the same size.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOISE_STD = 1e-4
SEED = 0


def make_noisy(out: Path, std: float = NOISE_STD, seed: int = SEED) -> Path:
    """SmolLM2-135M (the embedded fp32 folder) with N(0, std²) added to every weight, saved to `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from forgetbench.models import embedded

    if (out / "config.json").is_file():
        return out
    src = embedded.ensure("smollm2-135m")
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(src).save_pretrained(out)
    for name in ("chat_template.jinja", "generation_config.json"):
        if (src / name).is_file() and not (out / name).is_file():
            (out / name).write_bytes((src / name).read_bytes())
    return out


def kl(noisy: Path, dtype: str, args: argparse.Namespace, tmp: Path) -> dict:
    """One `forgetbench kl` run (fresh store: sampling is timed too) as its JSON result."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "forgetbench.cli", "kl", "smollm2-135m", str(noisy), "--task", "fb_asdiv_heldout_lite",
         "--n-prompts", str(args.n_prompts), "--max-new-tokens", str(args.max_new_tokens), "--device", "cpu",
         "--dtype", dtype, "--store", str(tmp / f"store-{dtype}"), "--out", str(tmp / f"out-{dtype}"), "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode:
        raise SystemExit(proc.stderr)
    r = json.loads(proc.stdout)
    r["wall_s"] = time.perf_counter() - t0
    return r


def figures(r: dict) -> dict:
    """The figures worth printing from one KL result."""
    head = next(e for e in r["estimates"] if e["name"] == r["headline"])
    span = lambda e: None if e is None else [round(e["mean"], 6), round(e["ci_low"], 6), round(e["ci_high"], 6)]  # noqa: E731
    return {
        "dtype": r["dtype"],
        "headline": span(head),
        "noise_floor": span(r["noise_floor"]),
        "precision_floor": span(r.get("precision_floor")),
        "precision_resolvable": r.get("precision_resolvable"),
        "seconds": {
            k: round(r[k], 1) for k in ("sampling_s", "scoring_s", "noise_floor_s", "precision_floor_s", "wall_s") if k in r
        },
    }


def terms(noisy: Path, dtype: str, n_prompts: int, max_new_tokens: int) -> dict:
    """Mean per-sequence `full` KL (and its standard error) of each term, on `dtype` samples of the base."""
    import numpy as np

    from forgetbench.backends.hf import scorer
    from forgetbench.kl.prompts import choose
    from forgetbench.models import tokenizer as tk
    from forgetbench.models.spec import resolve
    from forgetbench.prior.prompts import task_prompts

    base, ckpt = resolve("smollm2-135m"), resolve(str(noisy))
    tok = tk.load_tokenizer(base)
    chosen = choose("task:fb_asdiv_heldout_lite", task_prompts("fb_asdiv_heldout_lite"), n_prompts, 0)
    ids = tk.encode(tok, tk.render(tok, list(chosen.texts), True), True)
    eos = tk.stop_ids(base, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else min(eos)
    lm = {(m.name, d): scorer.load_model(m, "cpu", d) for m in (base, ckpt) for d in (dtype, "float32")}
    seqs = list(zip(ids, scorer.sample(lm[base.name, dtype], ids, max_new_tokens, set(eos), pad, SEED)))

    def kl(p: tuple[str, str], q: tuple[str, str]) -> list[float]:
        v = np.array([float(t.kl.sum()) for t in scorer.score(lm[p], lm[q], seqs, pad, batch_size=8)])
        return [round(float(v.mean()), 6), round(float(v.std(ddof=1) / np.sqrt(len(v))), 6)]

    b, c = base.name, ckpt.name
    return {
        "dtype": dtype,
        "KL(p~||q~)": kl((b, dtype), (c, dtype)),
        "KL(p~||p)": kl((b, dtype), (b, "float32")),
        "KL(q~||q)": kl((c, dtype), (c, "float32")),
        "KL(p||q)": kl((b, "float32"), (c, "float32")),
    }


KL_PASS_BYTES = {"float32": 3 * 4, "bfloat16 + floors": 3 * 2 + 4, "bfloat16, no floors": 2 * 2}
"""Weight bytes per parameter the hf KL pass holds: base, checkpoint, second copy (+ the float32 copy below
float32); `--noise-floor-prompts 0` skips both floors, leaving base and checkpoint."""


def memory(params: dict[str, float]) -> list[dict]:
    """GB of weights the KL pass holds, per model size and dtype."""
    return [{"model": m, **{k: round(n * b / 1e9, 1) for k, b in KL_PASS_BYTES.items()}} for m, n in params.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noisy", type=Path, default=Path(tempfile.gettempdir()) / "noisy")
    ap.add_argument("--n-prompts", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--terms", action="store_true", help="also split each low-precision KL into its terms")
    args = ap.parse_args()
    noisy = make_noisy(args.noisy)
    with tempfile.TemporaryDirectory(prefix="fb-precision-") as tmp:
        for dtype in args.dtypes.split(","):
            print(json.dumps(figures(kl(noisy, dtype, args, Path(tmp)))), flush=True)
            if args.terms and dtype != "float32":
                print(json.dumps(terms(noisy, dtype, args.n_prompts, args.max_new_tokens)), flush=True)
    from safetensors import safe_open

    with safe_open(str(noisy / "model.safetensors"), "np") as f:
        smollm2 = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118 (safe_open is not iterable)
    for row in memory({"SmolLM2-135M": smollm2, "1.7B": 1.7e9, "8B": 8.03e9, "14B": 14.8e9, "70B": 70.6e9}):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
