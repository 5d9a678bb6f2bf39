"""Content hashes of lm-eval tasks: what a cached result is keyed on besides the model."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from forgetbench.core.hashing import digest

if TYPE_CHECKING:
    from lm_eval.api.task import Task


def doc_hash(doc: dict) -> str:
    """lm-eval's own per-doc hash (sha256 of the doc's JSON), as logged in its samples."""
    from lm_eval.utils import handle_non_serializable, hash_string

    return hash_string(json.dumps(doc, indent=2, default=handle_non_serializable, ensure_ascii=False))


def content_config(config: dict, drop_metadata: tuple[str, ...] = ()) -> dict:
    """A task's config as its content: without `metadata.config_source` (an absolute path) nor the
    `drop_metadata` keys (what lm-eval's logs add per run: the model_args)."""
    meta = config.get("metadata")
    if isinstance(meta, dict):
        config = {**config, "metadata": {k: v for k, v in meta.items() if k != "config_source" and k not in drop_metadata}}
    return config


def content_hash(config: dict, doc_hashes: list[str], drop_metadata: tuple[str, ...] = ()) -> str:
    """The one task-hash formula: sha256 of a task's content config (`content_config`) and of its evaluated
    docs' hashes, in order. `task_hash` and `prior.logs` (a task read from lm-eval's logs) both use it."""
    return digest({"config": content_config(config, drop_metadata), "docs": list(doc_hashes)})


def task_hash(task: Task, limit: int | None) -> str:
    """sha256 of the task's config (prompt templates, metrics, helper function sources) and of the
    docs that will be evaluated (the first `limit` of them)."""
    config = task.config.to_dict()
    config["metadata"] = config.get("metadata") or {}
    docs = list(task.eval_docs)
    if limit is not None:
        docs = docs[:limit]
    return content_hash(config, [doc_hash(d) for d in docs])
