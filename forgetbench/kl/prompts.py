"""New-task prompts for KL: read from a JSONL/CSV/Parquet file (prompts rendered by an lm-eval task
come from `forgetbench.prior.prompts`, through the pipeline), then a seeded choice. `Prompts` lives in
`core.prompts` (prior builds it too, and may not import kl); it is re-exported here."""

from __future__ import annotations

from pathlib import Path

from forgetbench.core.config import PROMPT_FORMATS
from forgetbench.core.errors import DataError
from forgetbench.core.prompts import Prompts
from forgetbench.data.sampling import lite_indices

__all__ = ["Prompts", "choose", "read_prompt_file"]


def read_prompt_file(path: Path, field: str) -> list[str]:
    """Every value of column `field` in a JSONL, CSV or Parquet file; DataError on anything odd."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"prompts file {path} does not exist")
    kind = PROMPT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"prompts file {path}: unknown format (use .jsonl, .csv or .parquet)")
    try:
        if kind == "json":
            frame = pd.read_json(path, lines=path.suffix.lower() == ".jsonl", dtype=False)
        elif kind == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            frame = pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"prompts file {path}: cannot be read ({exc})") from None
    if frame.empty:
        raise DataError(f"prompts file {path} is empty")
    if field not in frame.columns:
        raise DataError(
            f"prompts file {path} has no column {field!r} (columns: {', '.join(map(str, frame.columns))}); use --prompt-field"
        )
    values = frame[field].tolist()
    bad = [i for i, v in enumerate(values) if not isinstance(v, str) or not v.strip()]
    if bad:
        raise DataError(f"prompts file {path}: row {bad[0]} of column {field!r} is not a non-empty string ({len(bad)} such rows)")
    return values


def choose(source: str, all_prompts: list[str], n: int, seed: int) -> Prompts:
    """`n` prompts chosen by `seed` (all of them when the source has n or fewer)."""
    if not all_prompts:
        raise DataError(f"{source} has no prompts")
    idx = lite_indices(len(all_prompts), n, seed)
    return Prompts(source, len(all_prompts), tuple(idx), tuple(all_prompts[i] for i in idx))
