"""Model fingerprints: digests of a model folder's config, tokenizer files and weights.

Hashing 500 MB of weights takes seconds, so each file's sha256 is cached under
`<home>/digests/`, keyed by (absolute path, size, mtime_ns): re-fingerprinting an unchanged folder
only stats its files. Any write to a weight file changes its mtime (or size) and so its digest.
"""

from __future__ import annotations

from pathlib import Path

from forgetbench.core.fs import atomic_write_bytes
from forgetbench.core.hashing import digest, file_sha256
from forgetbench.core.home import forgetbench_home
from forgetbench.core.model import Fingerprint

CONFIG_FILES = ("config.json", "generation_config.json")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def file_digest(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 of a file, cached by (path, size, mtime_ns)."""
    path = path.resolve()
    st = path.stat()
    cache_dir = cache_dir or forgetbench_home() / "digests"
    key = digest([str(path), st.st_size, st.st_mtime_ns])
    cached = cache_dir / key
    if cached.is_file():
        value = cached.read_text().strip()
        if len(value) == 64:
            return value
    value = file_sha256(path)
    try:
        atomic_write_bytes(cached, value.encode())
    except OSError:
        pass  # an unwritable cache only costs speed; the digest itself is exact
    return value


def weight_files(folder: Path) -> list[Path]:
    """Weight files directly inside `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def _part(folder: Path, names: list[str], cache_dir: Path | None) -> str:
    return digest([[n, file_digest(folder / n, cache_dir)] for n in sorted(names)])


def fingerprint(folder: Path, cache_dir: Path | None = None) -> Fingerprint:
    """Fingerprint of the HF model folder `folder` (files assumed validated by `models`)."""
    config = _part(folder, [n for n in CONFIG_FILES if (folder / n).is_file()], cache_dir)
    tokenizer = _part(folder, [n for n in TOKENIZER_FILES if (folder / n).is_file()], cache_dir)
    weights = _part(folder, [p.name for p in weight_files(folder)], cache_dir)
    return Fingerprint(digest([config, tokenizer, weights]), config, tokenizer, weights)
