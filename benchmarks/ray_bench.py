"""`--executor ray` on a local Ray cluster against the local sweep, measured in one run on one machine.

    .venv/bin/python benchmarks/ray_bench.py [--jobs 40]

1. Per-job scheduling overhead: a local cluster (`ray.init`, this machine's cores) runs `--jobs` empty
   jobs one after another through the executor's own remote function; the mean round trip per job
   (submit → result on the driver) is the overhead a real job pays on top of its work (goal < 1 s).
2. A 3-checkpoint sweep of tiny models (the tests' setup: PIQA-lite 4 items, 4 KL prompts × 8 tokens),
   `forgetbench sweep` with `--executor local` and with `--executor ray` (each from an empty store, each
   a fresh process: the Ray side starts and stops its cluster), wall time of each and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def overhead(n: int) -> tuple[float, float, float]:
    """Cluster start seconds, and the mean and median round trip of an empty job."""
    import ray

    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    started = time.perf_counter() - t0
    try:
        noop = ray.remote(lambda: None)
        ray.get(noop.remote())  # a worker up
        times = []
        for _ in range(n):
            t = time.perf_counter()
            ray.get(noop.options(num_cpus=1, max_retries=3, name="noop").remote())
            times.append(time.perf_counter() - t)
    finally:
        ray.shutdown()
    return started, statistics.mean(times), statistics.median(times)


def sweep(executor: str, root: Path) -> float:
    out = root / executor
    args = [sys.executable, "-m", "forgetbench.cli", "sweep", str(root / "base"), str(root / "run"), "--new-task",
            str(root / "prompts.jsonl"), "--suite", "task:fb_piqa_lite", "--limit", "4", "--n-prompts", "4",
            "--max-new-tokens", "8", "--noise-floor-prompts", "2", "--batch-size", "8", "--store", str(out / "store"),
            "--out", str(out / "sweep"), "--executor", executor]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.memorised import write_prompts
    from tests.tiny import make_tiny_model

    start, mean, median = overhead(args.jobs)
    print(f"local cluster: started in {start:.1f} s; {args.jobs} empty jobs: {mean * 1000:.0f} ms mean, "
          f"{median * 1000:.0f} ms median per job (goal < 1 s)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="fb-ray-bench-") as tmp:
        root = Path(tmp)
        make_tiny_model(root / "base", seed=0)
        for step in (1, 2, 3):
            make_tiny_model(root / "run" / f"checkpoint-{step}", seed=step)
        write_prompts(root / "prompts.jsonl")
        local = sweep("local", root)
        ray = sweep("ray", root)
    print(f"3-checkpoint sweep (tiny models): local {local:.1f} s, ray {ray:.1f} s, ratio ray/local {ray / local:.2f}")


if __name__ == "__main__":
    main()
