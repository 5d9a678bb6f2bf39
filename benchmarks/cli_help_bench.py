"""How long `forgetbench --help` takes (the CLI imports heavy libraries only inside commands).

Prints the median of N wall-clock runs of `forgetbench --help` and of `forgetbench score --help`, and,
as the reference measured in the same run, the median of `python -c pass` (interpreter start-up).

    .venv/bin/python benchmarks/cli_help_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("forgetbench"))
    bare = median_wall([sys.executable, "-c", "pass"], args.runs)
    top = median_wall([exe, "--help"], args.runs)
    score = median_wall([exe, "score", "--help"], args.runs)
    print(f"python -c pass:            {bare:.3f} s (median of {args.runs})")
    print(f"forgetbench --help:        {top:.3f} s ({top / bare:.1f}× interpreter start-up)")
    print(f"forgetbench score --help:  {score:.3f} s ({score / bare:.1f}× interpreter start-up)")


if __name__ == "__main__":
    main()
