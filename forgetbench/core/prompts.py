"""The prompts chosen for a KL run: the one type that both their sources (`kl.prompts` for files,
`prior.prompts` for lm-eval tasks and suites) build and that the KL plan consumes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompts:
    """The prompts chosen for a KL run (raw text, before any chat template)."""

    source: str
    """File path, `task:NAME` for an lm-eval task, or `suite:NAME` for a prior suite's own items."""
    available: int
    """Prompts in the source (for a suite: the items it evaluates, over all its tasks)."""
    indices: tuple[int, ...]
    """Chosen rows of the source (seeded, increasing). For a suite they index the concatenation of the
    items it evaluates, task by task in suite order, each task's in lm-eval's doc order (its doc_id)."""
    texts: tuple[str, ...]
    """The chosen prompts, in `indices` order."""
    tasks: tuple[str, ...] = ()
    """The lm-eval task of each chosen prompt, in `indices` order (suite prompts only; empty otherwise)."""
