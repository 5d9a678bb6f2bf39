"""Model fingerprints: digests of a model folder's config, tokenizer files and weights.

Hashing 500 MB of weights takes seconds, so each file's sha256 is cached under
`<home>/digests/`, keyed by (absolute path, size, mtime_ns): re-fingerprinting an unchanged folder
only stats its files. Any write to a weight file changes its mtime (or size) and so its digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from forgetbench.home import forgetbench_home
from forgetbench.store import atomic_write_bytes, digest

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


@dataclass(frozen=True)
class Fingerprint:
    """Identity of a model's contents (sha256 hex digests)."""

    digest: str
    """Digest over the three parts below: the model's identity in cache keys."""
    config: str
    """Digest of config.json and generation_config.json."""
    tokenizer: str
    """Digest of the tokenizer files (vocabulary, special tokens, chat template)."""
    weights: str
    """Digest of every weight file (safetensors / PyTorch shards) and its name."""

    @property
    def short(self) -> str:
        """First 12 hex digits, for display."""
        return self.digest[:12]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


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
    value = _sha256_file(path)
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
