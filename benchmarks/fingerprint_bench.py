"""Fingerprinting a real model folder: first time (hash every byte) vs again (digest cache).

    .venv/bin/python benchmarks/fingerprint_bench.py [MODEL]      # default: smollm2-135m

Prints both times and their ratio, measured in one run. The digest cache lives in a fresh
temporary folder so the first pass is truly cold.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from forgetbench.models.fingerprint import fingerprint, weight_files
from forgetbench.models.spec import resolve


def main() -> None:
    spec = sys.argv[1] if len(sys.argv) > 1 else "smollm2-135m"
    folder = resolve(spec).path
    size_mb = sum(p.stat().st_size for p in weight_files(folder)) / 1e6
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        cold = fingerprint(folder, Path(cache))
        t1 = time.perf_counter()
        warm = fingerprint(folder, Path(cache))
        t2 = time.perf_counter()
    assert cold == warm
    print(f"{spec}: {size_mb:.0f} MB of weights, fingerprint {cold.short}")
    print(f"cold {t1 - t0:.3f} s   warm {1000 * (t2 - t1):.2f} ms   cold/warm = {(t1 - t0) / (t2 - t1):.0f}x")


if __name__ == "__main__":
    main()
