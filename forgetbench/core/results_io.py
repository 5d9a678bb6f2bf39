"""The one reader and writer of typed result JSON: a run folder's report and KL result (`runs.RunFolder`
names and places those files) and the typed JSON inside store entries.

Writing: `to_json(result)` (every field, `schema_version` first). Reading: `read_result(path, cls)`
checks the schema version — an older version is migrated explicitly (`MIGRATIONS`), a newer one is
refused with "written by a newer forgetbench: upgrade" — then rebuilds the typed result strictly:
an unknown field, a missing field or a value of the wrong type is one line naming the field
(`ResultFileError`, exit 2). Nothing is silently defaulted.

NaN and ±inf are written as JSON `null` (`jsonable`; bare `NaN` is not JSON) and a `null` read back where
the field is a plain float is NaN. A report.json or kl.json of schema version ≥ `SEALED_SINCE` must carry
its digest: an empty or missing one is refused. The digest is an unkeyed sha256 — it catches accidental
edits and truncation, not forgery (anyone can recompute it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from forgetbench.core.errors import ResultFileError
from forgetbench.core.hashing import digest, file_sha256
from forgetbench.core.results import SCHEMA_VERSION, GateVerdict, KLResult, ScoreReport

NAN = float("nan")
SEALED_SINCE = 3
"""The schema version that added `digest` to `ScoreReport` and `KLResult` (older files legitimately have none)."""
T = TypeVar("T")
R = TypeVar("R", KLResult, ScoreReport)


class _FieldError(ValueError):
    """A problem at one field path (turned into one ResultFileError line by `build`)."""


def _scalar(tp: type, value: Any, where: str) -> Any:
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(tp)
    if ok is False:
        raise _FieldError(f"{where} should be {tp.__name__}, not {type(value).__name__}")
    return float(value) if tp is float else value


def _build(tp: Any, value: Any, where: str) -> Any:
    if tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise _FieldError(f"{where} is null")
        inner = [a for a in args if a is not type(None)]
        return _build(inner[0], value, where)
    if value is None:
        if tp is float:  # NaN and ±inf are written as null (`jsonable`)
            return NAN
        raise _FieldError(f"{where} is null")
    if origin is typing.Literal:
        if value not in args:
            raise _FieldError(f"{where} is {value!r}, not one of {', '.join(map(repr, args))}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise _FieldError(f"{where} should be a list")
        items = [_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _FieldError(f"{where} should be an object")
        vt = args[1] if args else Any
        return {k: _build(vt, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, value, where)
    return _scalar(tp, value, where)


def _dataclass(cls: Any, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise _FieldError(f"{where or cls.__name__} should be an object")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    prefix = f"{where}." if where else ""
    unknown = [k for k in value if k not in names]
    if unknown:
        raise _FieldError(f"unknown field {prefix}{unknown[0]}")
    missing = [n for n in names if n not in value]
    if missing:
        raise _FieldError(f"missing field {prefix}{missing[0]}")
    return cls(**{n: _build(hints[n], value[n], f"{prefix}{n}") for n in names})


def build(cls: type[T], data: Any, source: str) -> T:
    """Rebuild the dataclass `cls` from its `asdict` form, strictly (ResultFileError names the field)."""
    try:
        return _dataclass(cls, data, "")
    except _FieldError as exc:
        raise ResultFileError(f"{source}: {exc}") from None


def jsonable(obj: Any) -> Any:
    """`obj` (dicts, lists, tuples, scalars) with every non-finite float as None: what JSON can hold."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def dumps(obj: Any, indent: int | None = 2) -> str:
    """`obj` as strict JSON: NaN and ±inf as null (`jsonable`), never a bare `NaN`."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)


def content_digest(result: Any) -> str:
    """sha256 of a result's canonical JSON (as `to_json` writes it: non-finite numbers null) with its
    `digest` field empty."""
    return digest(jsonable({**dataclasses.asdict(result), "digest": ""}))


def seal(result: R, files: dict[str, bytes]) -> R:
    """`result` with the sha256 of each file's bytes in `files` and its own `digest` set."""
    hashed = dataclasses.replace(result, files={name: hashlib.sha256(data).hexdigest() for name, data in files.items()})
    return dataclasses.replace(hashed, digest=content_digest(hashed))


def verify_files(result: Any, folder: Path) -> None:
    """Refuse a folder whose files differ from the hashes its result recorded (none recorded: nothing to check)."""
    for name, expected in result.files.items():
        path = Path(folder) / name
        if not path.is_file():
            raise ResultFileError(f"{path} is missing (the run folder's {type(result).__name__} lists it)")
        if file_sha256(path) != expected:
            raise ResultFileError(f"{path} was changed after the run wrote it (its content hash differs from the one recorded)")


def to_json(result: Any) -> bytes:
    """A typed result as indented, strict JSON (all fields; NaN and ±inf as null, read back as NaN)."""
    return dumps(dataclasses.asdict(result)).encode()


def _kl_v1_to_v2(kl: dict) -> dict:
    names = [e.get("name") for e in kl.get("estimates") or []]
    return {**kl, "schema_version": 2, "headline": "full" if "full" in names else (names[0] if names else "full")}


def _report_v1_to_v2(report: dict) -> dict:
    kl = report.get("kl")
    return {**report, "schema_version": 2, "kl": _kl_v1_to_v2(kl) if isinstance(kl, dict) else kl}


def _gate_v1_to_v2(verdict: dict) -> dict:
    return {**verdict, "schema_version": 2}


def _kl_v2_to_v3(kl: dict) -> dict:
    return {**kl, "schema_version": 3, "files": {}, "digest": ""}


def _report_v2_to_v3(report: dict) -> dict:
    kl = report.get("kl")
    kl = _kl_v2_to_v3(kl) if isinstance(kl, dict) else kl
    return {**report, "schema_version": 3, "warnings": [], "files": {}, "digest": "", "kl": kl}


def _gate_v2_to_v3(verdict: dict) -> dict:
    return {**verdict, "schema_version": 3}


def _kl_v3_to_v4(kl: dict) -> dict:
    return {**kl, "schema_version": 4, "template_mismatch": None, "precision_floor": None, "precision_resolvable": None,
            "precision_floor_s": 0.0}  # fmt: skip


def _report_v3_to_v4(report: dict) -> dict:
    kl = report.get("kl")
    kl = _kl_v3_to_v4(kl) if isinstance(kl, dict) else kl
    retention = report.get("retention")
    if isinstance(retention, dict) and isinstance(retention.get("tasks"), list):  # no Holm-adjusted p was computed
        retention = {**retention, "tasks": [{**t, "p_adjusted": None} if isinstance(t, dict) else t for t in retention["tasks"]]}
    law = report.get("law")
    law = {**law, "kind": "quadratic"} if isinstance(law, dict) else law
    return {**report, "schema_version": 4, "kl": kl, "retention": retention, "law": law}


def _rule_v3_to_v4(rule: dict, mode: str) -> dict:
    """Version ≤ 3 rules were two-valued, decided by one percentile-bootstrap bound."""
    passed, bound, p = rule.get("passed"), rule.get("bound", NAN), rule.get("p_adjusted", NAN)
    upper = mode == "non-inferiority"
    rest = {k: v for k, v in rule.items() if k not in ("bound", "p_value", "p_adjusted")}
    return {**rest, "status": "pass" if passed else "fail", "low": NAN if upper else bound, "high": bound if upper else NAN,
            "p_within": p if upper else NAN, "p_beyond": NAN if upper else p, "mde": NAN, "n_needed": None,
            "method": "percentile bootstrap (version ≤ 3)"}  # fmt: skip


def _gate_v3_to_v4(verdict: dict) -> dict:
    mode = verdict.get("mode")
    rules = [_rule_v3_to_v4(r, str(mode)) if isinstance(r, dict) else r for r in verdict.get("rules", [])]
    rest = {k: v for k, v in verdict.items() if k != "mode"}
    return {**rest, "schema_version": 4, "status": "pass" if verdict.get("passed") else "fail",
            "on_inconclusive": "fail" if mode == "non-inferiority" else "pass", "rules": rules}  # fmt: skip


def _models_v4_to_v5(result: dict) -> dict:
    """Version ≤ 4 checkpoints were full-weight models: no adapter."""
    return {**result, "schema_version": 5,
            **{k: {**result[k], "adapter": None} for k in ("base", "ckpt") if isinstance(result.get(k), dict)}}  # fmt: skip


def _report_v4_to_v5(report: dict) -> dict:
    kl = report.get("kl")
    return {**_models_v4_to_v5(report), "kl": _models_v4_to_v5(kl) if isinstance(kl, dict) else kl}


def _gate_v4_to_v5(verdict: dict) -> dict:
    return {**verdict, "schema_version": 5}


def _v5_to_v6(result: dict) -> dict:
    """Version 6 added what `compare` reports (a report's `source`, its logs); earlier results are `score`'s."""
    return {**result, "schema_version": 6}


def _report_v5_to_v6(report: dict) -> dict:
    kl = report.get("kl")
    return {**_v5_to_v6(report), "source": "forgetbench", "base_logs": None, "ckpt_logs": None,
            "kl": _v5_to_v6(kl) if isinstance(kl, dict) else kl}  # fmt: skip


def _kl_v6_to_v7(kl: dict) -> dict:
    """Version 7 added the `predictors` table: an older result measured one predictor, its headline `full`
    KL (forward: `kl_forward_new`; reverse: `kl_reverse_new`), filled in from its estimate."""
    headline = next((e for e in kl.get("estimates", []) if isinstance(e, dict) and e.get("name") == "full"), None)
    table = []
    if headline is not None and kl.get("headline") == "full":
        name = "kl_forward_new" if kl.get("direction") == "forward" else "kl_reverse_new"
        table.append({"name": name, "inputs": "new", "value": headline["mean"], "ci_low": headline["ci_low"],
                      "ci_high": headline["ci_high"], "unit": "nats/sequence"})  # fmt: skip
    return {**kl, "schema_version": 7, "predictors": table, "old_task_prompts": 0, "predictor_notes": []}


def _report_v6_to_v7(report: dict) -> dict:
    kl = report.get("kl")
    return {**report, "schema_version": 7, "kl": _kl_v6_to_v7(kl) if isinstance(kl, dict) else kl}


def _gate_v6_to_v7(verdict: dict) -> dict:
    return {**verdict, "schema_version": 7}


MIGRATIONS: dict[type, dict[int, Callable[[dict], dict]]] = {
    KLResult: {1: _kl_v1_to_v2, 2: _kl_v2_to_v3, 3: _kl_v3_to_v4, 4: _models_v4_to_v5, 5: _v5_to_v6, 6: _kl_v6_to_v7},
    ScoreReport: {
        1: _report_v1_to_v2,
        2: _report_v2_to_v3,
        3: _report_v3_to_v4,
        4: _report_v4_to_v5,
        5: _report_v5_to_v6,
        6: _report_v6_to_v7,
    },
    GateVerdict: {1: _gate_v1_to_v2, 2: _gate_v2_to_v3, 3: _gate_v3_to_v4, 4: _gate_v4_to_v5, 5: _v5_to_v6, 6: _gate_v6_to_v7},
}
"""Per result type: version N → a function returning the same data at version N + 1."""


def migrate(cls: type, data: dict, source: str) -> dict:
    """`data` brought to SCHEMA_VERSION through the explicit migrations of `cls`."""
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ResultFileError(f"{source}: not a forgetbench {cls.__name__} (no valid schema_version)")
    if version > SCHEMA_VERSION:
        raise ResultFileError(
            f"{source} was written by a newer forgetbench (schema version {version}; this one reads up to "
            f"{SCHEMA_VERSION}): upgrade forgetbench"
        )
    steps = MIGRATIONS.get(cls, {})
    while version < SCHEMA_VERSION:
        if version not in steps:
            raise ResultFileError(f"{source}: schema version {version} of {cls.__name__} cannot be migrated")
        data = steps[version](data)
        version += 1
    return data


def read_json(path: Path) -> Any:
    """The JSON in `path` (ResultFileError when missing or not JSON)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ResultFileError(f"no file at {path}") from None
    except IsADirectoryError:
        raise ResultFileError(f"{path} is a folder, not a result file") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ResultFileError(f"{path} is not valid JSON") from None


def read_result(path: Path, cls: type[T]) -> T:
    """A versioned result file read back into `cls` (migrated when older, refused when newer; a sealed
    result whose content no longer matches its digest is refused)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise ResultFileError(f"{path}: not a forgetbench {cls.__name__}")
    _check_seal(path, cls, data)
    return build(cls, migrate(cls, data, str(path)), str(path))


def _check_seal(path: Path, cls: type, data: dict) -> None:
    """Refuse a sealed result whose digest is empty, missing or no longer matches its content (checked on the
    file as written, before any migration; files older than `SEALED_SINCE` have no digest to check, and a
    newer version is refused by `migrate` as newer)."""
    if cls not in (ScoreReport, KLResult):
        return
    version, sealed = data.get("schema_version"), data.get("digest")
    is_sealed = isinstance(version, int) and not isinstance(version, bool) and SEALED_SINCE <= version <= SCHEMA_VERSION
    if isinstance(version, int) and version < SEALED_SINCE and ("digest" in data or "files" in data):
        raise ResultFileError(
            f"{path} declares schema version {version}, which had no seal, yet carries `digest`/`files` (fields of "
            f"version {SEALED_SINCE} on): it was edited or not written by forgetbench"
        )
    if is_sealed and (not isinstance(sealed, str) or not sealed):
        raise ResultFileError(
            f"{path} has {'no' if sealed is None else 'an empty'} digest: a {cls.__name__} of schema version {version} is "
            "sealed when written, so this file was edited or not written by forgetbench"
        )
    if sealed and digest({**data, "digest": ""}) != sealed:
        raise ResultFileError(f"{path} was edited after it was written (its content no longer matches its digest)")
