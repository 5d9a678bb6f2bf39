"""The store of sampled responses: scoring ten checkpoints against one base samples once.

Keyed (`plan.samples_key`) by the sampler's fingerprint, the tokenised prompts, the sampling
parameters, seed, backend, engine version, dtype and batch size.
"""

from __future__ import annotations

from forgetbench.core.store import Store

NAMESPACE = "kl-samples-v2"  # v2: keyed by version-2 fingerprints (v1 entries are stale: `forgetbench clean`)


def cached(store: Store, key: str) -> list[list[int]] | None:
    """Responses sampled before under exactly these settings, or None."""
    import pandas as pd

    entry = store.get(NAMESPACE, key)
    if entry is None:
        return None
    return [list(map(int, r)) for r in pd.read_parquet(entry / "samples.parquet")["response_ids"]]


def put(store: Store, key: str, responses: list[list[int]]) -> None:
    """Keep `responses` under `key` (atomically; the first complete entry wins)."""
    import pandas as pd

    store.put(
        NAMESPACE,
        key,
        lambda folder: pd.DataFrame({"response_ids": responses}).to_parquet(folder / "samples.parquet", index=False),
    )
