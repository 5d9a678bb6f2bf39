"""A vLLM engine with its engine core in forgetbench's worker process against vLLM's default (engine core and
its model worker in two more processes), measured in one run on one machine.

    .venv-vllm/bin/python benchmarks/vllm_start_bench.py [--model smollm2-135m] [--repeat 2]

Each side starts one engine on the model (float32, eager, the CPU memory share `--backend vllm` uses) in
a fresh `WorkerProcess`, samples 16 prompts × 2 responses × 64 tokens, scores those 32 sequences' prompt
log-probs, and stops. Prints per side the start, sampling and scoring times (the median of `--repeat`
rounds, the sides alternating), the ratios in-worker / default (goal < 1), whether both sides drew the
same responses, and the largest difference of their log-probs.
"""

from __future__ import annotations

import argparse
import statistics
import time

PROMPT = [1, 504, 3458, 314, 253, 1345]


def one(model: str, in_worker: bool) -> tuple[dict[str, float], list, list]:
    from forgetbench.backends.vllm import process
    from forgetbench.backends.vllm.protocol import PromptLogprobs, Sample, StartEngine
    from forgetbench.core.progress import Reporter

    kwargs = {"model": model, "dtype": "float32", "max_model_len": 256, "enforce_eager": True, "seed": 0,
              "gpu_memory_utilization": process.cpu_memory_fraction(), "skip_tokenizer_init": True}  # fmt: skip
    t0 = time.perf_counter()
    worker = process.WorkerProcess("bench", StartEngine(kwargs, 0, False, "auto"), Reporter(), engine_in_worker=in_worker)
    try:
        t1 = time.perf_counter()
        drawn = worker.request(Sample([PROMPT] * 16, 2, 64, list(range(16)), [2]), Reporter())
        t2 = time.perf_counter()
        seqs = [PROMPT + r for r in drawn.responses]  # type: ignore[attr-defined]
        scored = worker.request(PromptLogprobs(seqs, [len(PROMPT)] * len(seqs), None), Reporter())
        t3 = time.perf_counter()
    finally:
        worker.close()
    return {"start": t1 - t0, "sample": t2 - t1, "score": t3 - t2}, drawn.responses, scored.logprobs  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from forgetbench.models.spec import resolve

    model = str(resolve(args.model).path)
    times: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    outputs: dict[bool, tuple] = {}
    for _ in range(args.repeat):
        for in_worker in (False, True):
            t, responses, logprobs = one(model, in_worker)
            times[in_worker].append(t)
            outputs[in_worker] = (responses, logprobs)
    same = outputs[False][0] == outputs[True][0]
    diff = max((abs(a - b) for x, y in zip(outputs[False][1], outputs[True][1]) for a, b in zip(x, y)), default=0.0)
    print(f"model {args.model}, {args.repeat} rounds (median):")
    for phase in ("start", "sample", "score"):
        a = statistics.median(t[phase] for t in times[False])
        b = statistics.median(t[phase] for t in times[True])
        print(f"  {phase:6s}  default {a:6.1f} s   in-worker {b:6.1f} s   ratio {b / a:.2f}")
    print(f"  same responses: {same}; largest log-prob difference {diff:.1e}")


if __name__ == "__main__":
    main()
