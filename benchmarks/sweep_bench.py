"""A sweep of N LoRA checkpoints against N separate `score` calls, measured in one run on one machine.

    .venv/bin/python benchmarks/sweep_bench.py [--backend hf] [--n 4]
    .venv-vllm/bin/python benchmarks/sweep_bench.py --backend vllm

The checkpoints are the N last `checkpoint-*` adapters of the cached SmolLM2-135M LoRA run
(`pipeline.demo.ensure_lora_run`), scored with lean settings (PIQA-lite, 20 items; 8 KL prompts × 32
tokens; noise floor on 2 prompts). Each side starts from its own empty store, shared by all its calls:

- **separate**: N `score` calls, each in a fresh process (what a shell loop does);
- **sweep**: one `forgetbench sweep` call over the same checkpoints.

Prints each side's wall time, model loads and engine starts, and the ratio sweep / separate (goal ≤ 1.0).
A child process reports its loads and engines as one JSON line (`--child`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LEAN = {"suite": "task:fb_piqa_lite", "limit": 20, "n_prompts": 8, "max_new_tokens": 32, "noise_floor_prompts": 2}


def config(backend: str, ckpt: str):
    from forgetbench.core.config import ScoreConfig

    return ScoreConfig.build("smollm2-135m", ckpt, "task:fb_asdiv_heldout_lite", backend=backend, **LEAN)


def child(backend: str, ckpts: list[str], store: str, out: str) -> None:
    """One score call (one checkpoint) or one sweep (several), printing {"loads", "engines"}."""
    from forgetbench.backends.registry import open_backend
    from forgetbench.core.progress import Reporter
    from forgetbench.core.store import Store
    from forgetbench.pipeline.run_folder import prepare, write_score
    from forgetbench.pipeline.score import plan_score, run_score
    from forgetbench.pipeline.sweep import sweep

    if len(ckpts) == 1:  # what `forgetbench score` does, with the backend's usage kept
        cfg = config(backend, ckpts[0])
        with open_backend(cfg.eval.runtime) as b:
            write_score(
                run_score(plan_score(cfg, Store(Path(store)), b, Reporter()), b, Store(Path(store)), Reporter()),
                prepare(Path(out)),
            )
            usage = b.usage
    else:
        outcome = sweep(config(backend, ckpts[0]), ckpts, store=Store(Path(store)), out=Path(out))
        assert outcome.usage is not None
        usage = outcome.usage
    print(json.dumps({"loads": sum(usage.loads.values()), "engines": usage.engines}))


def run_child(backend: str, ckpts: list[str], store: Path, out: Path) -> tuple[float, dict]:
    args = [sys.executable, __file__, "--child", "--backend", backend, "--store", str(store), "--out", str(out), *ckpts]
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=7200)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="hf", choices=["hf", "vllm"])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--store")
    ap.add_argument("--out")
    ap.add_argument("ckpts", nargs="*")
    a = ap.parse_args()
    if a.child:
        child(a.backend, a.ckpts, a.store, a.out)
        return
    from forgetbench.core.progress import Reporter
    from forgetbench.pipeline.demo import ensure_lora_run

    run = ensure_lora_run(Reporter())
    ckpts = [str(p) for p in sorted(run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))][-a.n :]
    root = Path(tempfile.mkdtemp(prefix="fb-sweep-bench-"))
    separate_wall, loads, engines = 0.0, 0, 0
    for i, ckpt in enumerate(ckpts):
        wall, usage = run_child(a.backend, [ckpt], root / "store-separate", root / f"score-{i}")
        separate_wall += wall
        loads, engines = loads + usage["loads"], engines + usage["engines"]
        print(f"score {Path(ckpt).name}: {wall:.1f} s, {usage['loads']} model loads, {usage['engines']} engines", flush=True)
    sweep_wall, usage = run_child(a.backend, ckpts, root / "store-sweep", root / "sweep")
    print(f"\nbackend {a.backend}, N = {len(ckpts)} adapters")
    print(f"separate score calls: {separate_wall:.1f} s, {loads} model loads, {engines} engines started")
    print(f"one sweep:            {sweep_wall:.1f} s, {usage['loads']} model loads, {usage['engines']} engines started")
    print(f"wall ratio sweep / separate: {sweep_wall / separate_wall:.2f} (goal ≤ 1.0)")


if __name__ == "__main__":
    main()
