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


def task_hash(task: Task, limit: int | None) -> str:
    """sha256 of the task's config (prompt templates, metrics, helper function sources) and of the
    docs that will be evaluated (the first `limit` of them)."""
    config = task.config.to_dict()
    meta = dict(config.get("metadata") or {})
    meta.pop("config_source", None)  # an absolute path: differs between machines, not content
    config["metadata"] = meta
    docs = list(task.eval_docs)
    if limit is not None:
        docs = docs[:limit]
    return digest({"config": config, "docs": [doc_hash(d) for d in docs]})
