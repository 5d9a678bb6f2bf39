"""Cost of the chunked full-vocabulary KL pass, measured in one run.

    .venv/bin/python benchmarks/kl_bench.py [MODEL ...] [--scan] [--threads=N]   # default: smollm2-135m gemma3-270m

For each model, on B sequences of L tokens (the last R of them a "response"), prints
- time ratio: `hf_kl.score` (two transformer bodies, head + log-softmax + KL in chunks, float32)
  divided by two bare forward passes `model(ids).logits` over the same tokens (goal ≤ 1.2);
- memory ratio: the pass's peak extra resident memory divided by the size of one float32
  [B × L × V] tensor (what a naive implementation holds twice, per model).
Peak memory is read from /proc (VmHWM, reset through /proc/self/clear_refs before each pass).
A second line breaks the peak down: the two transformer bodies alone (hidden states kept), the chunk
loop's three float32 logits blocks, and the bare passes' own peak extra memory (what `model(ids)` pays).
A third line prices every per-token quantity at once (`divergences=every_name()`: `full`, the reverse per-token
KL, TV, Jensen–Shannon and the activation distance) against the KL-only pass on the same tokens, run in
alternation so that background load falls on both alike: time ratio all ÷ KL-only (goal ≤ 1.15) and the
all-divergences pass's memory ratio (goal: unchanged from the KL-only pass, ≤ 0.5). On a busy machine the
intra-op thread pool's barriers, paid per tensor operation, inflate the many small operations of the
divergences far more than the matrix products (SmolLM2 at load 4–5 on 2 cores: 1.20–1.40 with two threads,
1.04 with one); --threads=1 measures the cost without that (torch.set_num_threads).
--scan adds the pass's peak memory at L = 256, 512, 1024 (it must not grow with B×L×V).
The model is scored against itself (two handles to one model): cost does not depend on the weights.
"""

from __future__ import annotations

import ctypes
import sys
import time
from pathlib import Path


def _kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise RuntimeError(field)


def _peak_extra_bytes(fn) -> tuple[float, int]:
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed memory back, so the baseline is what is live
    Path("/proc/self/clear_refs").write_text("5")
    base = _kb("VmRSS:")
    t0 = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - t0
    return elapsed, (_kb("VmHWM:") - base) * 1024


def bench(spec: str, batch: int = 8, length: int = 256, response: int = 192, repeats: int = 2) -> None:
    import torch

    from forgetbench.backends.hf import scorer as hf_kl
    from forgetbench.models.spec import resolve

    torch.manual_seed(0)
    model = resolve(spec)
    lm = hf_kl.load_model(model, "cpu", "float32")
    vocab = lm.config.vocab_size
    ids = torch.randint(3, min(vocab, 30000), (batch, length))
    seqs = [(row[: length - response].tolist(), row[length - response :].tolist()) for row in ids]
    mask = torch.ones_like(ids)

    def bare() -> None:
        with torch.no_grad():
            for _ in range(2):
                lm(input_ids=ids, attention_mask=mask).logits.float().sum()

    def ours() -> None:
        hf_kl.score(lm, lm, seqs, pad_id=0, batch_size=batch)

    ours(), bare()  # warm-up
    bare_runs = [_peak_extra_bytes(bare) for _ in range(repeats)]
    t_bare = min(t for t, _ in bare_runs)
    runs = [_peak_extra_bytes(ours) for _ in range(repeats)]
    t_ours = min(t for t, _ in runs)
    peak = max(m for _, m in runs)
    one = batch * length * vocab * 4
    print(
        f"{spec}: B={batch} L={length} (response {response}) V={vocab} | bare 2×forward {t_bare:.2f} s, "
        f"full-KL pass {t_ours:.2f} s, time ratio {t_ours / t_bare:.2f} | peak extra {peak / 2**20:.0f} MiB vs one "
        f"fp32 [B×L×V] {one / 2**20:.0f} MiB, memory ratio {peak / one:.2f}"
    )
    with torch.no_grad():
        bodies = max(_peak_extra_bytes(lambda: (hf_kl._body(lm, ids, mask), hf_kl._body(lm, ids, mask)))[1] for _ in range(2))
    block = batch * max(1, max(hf_kl.MIN_ROWS, hf_kl.LOGITS_BUDGET // vocab) // batch) * vocab * 4
    bare_peak = max(m for _, m in bare_runs)
    print(
        f"  breakdown: two transformer bodies {bodies / 2**20:.0f} MiB; logits blocks 3 × {block / 2**20:.1f} MiB; "
        f"bare 2×forward peak extra {bare_peak / 2**20:.0f} MiB (ratio {bare_peak / one:.2f})"
    )
    every_divergence(lm, spec, seqs, batch, one, repeats=max(3, repeats))


def every_divergence(lm, spec: str, seqs: list, batch: int, one: int, repeats: int) -> None:
    """Print the cost of scoring every per-token quantity against the KL-only pass: time ratio (min of
    `repeats` alternated runs each; goal ≤ 1.15) and each pass's peak extra memory over one fp32 [B×L×V]."""
    from forgetbench.backends.divergences import every_name
    from forgetbench.backends.hf import scorer as hf_kl

    names = every_name()
    kl_only: list[tuple[float, int]] = []
    every: list[tuple[float, int]] = []
    hf_kl.score(lm, lm, seqs, pad_id=0, batch_size=batch, divergences=names)  # warm-up
    for _ in range(repeats):
        kl_only.append(_peak_extra_bytes(lambda: hf_kl.score(lm, lm, seqs, pad_id=0, batch_size=batch)))
        every.append(_peak_extra_bytes(lambda: hf_kl.score(lm, lm, seqs, pad_id=0, batch_size=batch, divergences=names)))
    t_kl, t_all = min(t for t, _ in kl_only), min(t for t, _ in every)
    m_kl, m_all = max(m for _, m in kl_only), max(m for _, m in every)
    print(
        f"  all divergences ({', '.join(names)}) ÷ KL-only: time ratio {t_all / t_kl:.3f} ({t_all:.2f} s vs "
        f"{t_kl:.2f} s; min of {repeats} alternated runs; goal ≤ 1.15) | peak extra {m_all / 2**20:.0f} MiB vs "
        f"{m_kl / 2**20:.0f} MiB, memory ratio {m_all / one:.2f} vs {m_kl / one:.2f} (goal ≤ 0.5, unchanged)"
    )


def memory_scan(spec: str, batch: int = 8, lengths: tuple[int, ...] = (256, 512, 1024)) -> None:
    """Peak extra memory of the full-KL pass alone as the sequences grow: it should stay nearly flat
    (only the transformer body's activations grow with B×L; nothing grows with B×L×V)."""
    import torch

    from forgetbench.backends.hf import scorer as hf_kl
    from forgetbench.models.spec import resolve

    lm = hf_kl.load_model(resolve(spec), "cpu", "float32")
    vocab = lm.config.vocab_size
    for length in lengths:
        ids = torch.randint(3, min(vocab, 30000), (batch, length))
        seqs = [(row[: length // 4].tolist(), row[length // 4 :].tolist()) for row in ids]
        hf_kl.score(lm, lm, seqs[:1], pad_id=0, batch_size=1)
        t, peak = _peak_extra_bytes(lambda seqs=seqs: hf_kl.score(lm, lm, seqs, pad_id=0, batch_size=batch))
        one = batch * length * vocab * 4
        print(
            f"{spec}: B={batch} L={length}: full-KL pass {t:.1f} s, peak extra {peak / 2**20:.0f} MiB, "
            f"one fp32 [B×L×V] {one / 2**20:.0f} MiB, memory ratio {peak / one:.2f}"
        )


if __name__ == "__main__":
    threads = [a.removeprefix("--threads=") for a in sys.argv[1:] if a.startswith("--threads=")]
    if threads:  # one intra-op thread: the cost without other jobs' load on the thread pool's barriers
        import torch

        torch.set_num_threads(int(threads[0]))
    specs = [a for a in sys.argv[1:] if not a.startswith("--")] or ["smollm2-135m", "gemma3-270m"]
    for spec in specs:
        bench(spec)
    if "--scan" in sys.argv:
        for spec in specs:
            memory_scan(spec)
