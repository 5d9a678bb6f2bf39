"""What report.html costs a run: the time to write it (read the folder's files back, render, write) beside
the run's own time, and its size; then the same page scaled to a large suite and KL run to show both stay
bounded.

    .venv/bin/python benchmarks/html_bench.py RUN_FOLDER     # e.g. the demo's: forgetbench demo --out runs/demo

The scaled case keeps RUN_FOLDER's report but gives it 57 tasks (MMLU's subjects) of 400 changed items each,
and 1000 prompts × 4 samples of 256 tokens of KL rows. Figures from one run (this machine is noisy).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import pandas as pd

from forgetbench.pipeline.run_folder import write_html
from forgetbench.report.html import RunView, render
from forgetbench.runs.folder import load_report


def scaled(run: Path) -> RunView:
    report = load_report(run)
    items = pd.read_parquet(run / "items.parquet").to_dict("records")
    kl = pd.read_parquet(run / "kl.parquet").to_dict("records")
    changed = [r for r in items if r["context"] is not None] or items
    template = report.retention.tasks[0]
    tasks = tuple(dataclasses.replace(template, task=f"mmlu_subject_{i:02d}") for i in range(57))
    rows = [{**changed[j % len(changed)], "task": t.task, "doc_id": j} for t in tasks for j in range(400)]
    sample = kl[0]
    tokens = (list(sample["tokens"]) * 256)[:256]
    kl_rows = [{**sample, "prompt_index": p, "source_index": p, "sample_index": s, "tokens": tokens, "token_kl": [0.05 * (k % 40) for k in range(256)],
                report.kl.headline if report.kl else "full": float(p % 97)} for p in range(1000) for s in range(4)]  # fmt: skip
    return RunView(dataclasses.replace(report, retention=dataclasses.replace(report.retention, tasks=tasks)), rows, kl_rows)


def main(run: Path) -> None:
    report = load_report(run)
    write_html(run)  # warm: a run has pandas and pyarrow loaded by the time it writes the page
    t0 = time.perf_counter()
    page = write_html(run)
    took = time.perf_counter() - t0
    print(f"{run}: report.html {page.stat().st_size / 1024:.0f} KB written in {took:.3f} s; the run took {report.elapsed_s:.0f} s "
          f"(ratio {took / max(report.elapsed_s, 1e-9):.4f})")  # fmt: skip
    view = scaled(run)
    t0 = time.perf_counter()
    html = render(view)
    took = time.perf_counter() - t0
    print(
        f"scaled (57 tasks × 400 changed items, 4000 KL rows × 256 tokens): {len(html.encode()) / 1024:.0f} KB rendered in {took:.2f} s"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/demo"))
