"""Content hashes of lm-eval tasks: what a cached result is keyed on besides the model."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any

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


FUNCTION_REPR = re.compile(r"<function (\S+) at 0x[0-9a-fA-F]+>")
"""How lm-eval's JSON writer (`str()` of what it cannot serialise) logs a callable inside a nested config:
with the function's address in that process, which no two runs share."""
INHERITED = ("process_docs", "fewshot_delimiter", "target_delimiter", "gen_prefix", "doc_to_text", "doc_to_choice",
             "doc_to_target")  # fmt: skip
"""What lm-eval's `FewshotConfig` takes from the task's config when its own `fewshot_config` does not set it."""


def _without_address(value: Any) -> Any:
    if isinstance(value, str):
        return FUNCTION_REPR.sub(r"<function \1>", value) if value.startswith("<function ") else value
    if isinstance(value, dict):
        return {k: _without_address(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_address(v) for v in value]
    return value


def _fewshot(config: dict) -> Any:
    """`fewshot_config` completed as lm-eval's `TaskConfig.__post_init__` completes it (`FewshotConfig.from_dict`:
    what it does not set is the task's), so a log that has none (lm-eval ≤ 0.4.10) reads as the same config
    logged in full (0.4.11+). A callable it inherited, logged as `<function f>` where the task's own field holds
    f's source, reads as that source. Kept as logged when this lm-eval's FewshotConfig does not take it."""
    from lm_eval.config.task import FewshotConfig

    logged = config.get("fewshot_config")
    if logged is not None and not isinstance(logged, dict):
        return logged
    try:
        built = FewshotConfig.from_dict(
            dict(logged or {}), fewshot_split=config.get("fewshot_split"), **{k: config.get(k) for k in INHERITED}
        )
    except TypeError:  # a key this lm-eval's FewshotConfig does not have
        return logged
    out = dataclasses.asdict(built)
    for key in INHERITED:
        own, task = out.get(key), config.get(key)
        name = re.fullmatch(r"<function (\S+)>", own) if isinstance(own, str) else None
        if name and isinstance(task, str) and re.match(rf"\s*def {re.escape(name.group(1))}\(", task):
            out[key] = task
    return out


def with_defaults(config: dict) -> dict:
    """A logged task config as the installed lm-eval would log it, so that what lm-eval versions add to
    the logs is no difference: a field of lm-eval's `TaskConfig` that the config lacks gets its default
    (a later lm-eval writes `unsafe_code: false` where an earlier one has no such key), a `null` is
    dropped (`TaskConfig.to_dict` drops them), a callable logged with its address (`<function f at
    0x7f…>`, different in every run) loses the address, and `fewshot_config` is completed (`_fewshot`).
    Keys that are no TaskConfig field are kept as logged. A config the installed lm-eval logged, of a task
    without callables, is returned unchanged: what `score` hashes (`task_hash`)."""
    from lm_eval.config.task import TaskConfig

    out = {k: v for k, v in config.items() if v is not None}
    for field in dataclasses.fields(TaskConfig):
        if field.name not in out and field.default is not dataclasses.MISSING and field.default is not None:
            out[field.name] = field.default
    out = _without_address(out)
    fewshot = _fewshot(out)
    if fewshot is not None:
        out["fewshot_config"] = fewshot
    return out


def content_hash(config: dict, doc_hashes: list[str], drop_metadata: tuple[str, ...] = ()) -> str:
    """The one task-hash formula: sha256 of a task's content config (`content_config`) and of its evaluated
    docs' hashes, in order. `task_hash` and `prior.logs` (a task read from lm-eval's logs) both use it."""
    return digest({"config": content_config(config, drop_metadata), "docs": list(doc_hashes)})


def _sources(value: Any, serialize: Any) -> Any:
    """`value` with every callable nested below the top level as lm-eval serializes a top-level one (its
    source): `TaskConfig.to_dict` leaves the functions it copies into `fewshot_config` (e.g. `process_docs`)
    as objects, whose `str` holds a memory address that differs in every process."""
    if callable(value):
        return serialize(value)
    if isinstance(value, dict):
        return {k: _sources(v, serialize) for k, v in value.items()}
    if isinstance(value, list):
        return [_sources(v, serialize) for v in value]
    return value


def task_hash(task: Task, limit: int | None) -> str:
    """sha256 of the task's config (prompt templates, metrics, helper function sources) and of the
    docs that will be evaluated (the first `limit` of them)."""
    config = _sources(task.config.to_dict(), task.config.serialize_function)
    config["metadata"] = config.get("metadata") or {}
    docs = list(task.eval_docs)
    if limit is not None:
        docs = docs[:limit]
    return content_hash(config, [doc_hash(d) for d in docs])
