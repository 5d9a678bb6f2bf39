"""Model fingerprints: what a model computes, not how a library version saved it.

A fingerprint is three digests (`core.model.Fingerprint`), all independent of the transformers and
tokenizers versions that wrote the folder and of the environment it was written in:

- **weights**: for safetensors, every tensor's name, dtype, shape and bytes (so the header layout,
  its metadata and the sharding do not matter); other weight files (PyTorch pickles) by their bytes;
- **config**: config.json and generation_config.json as canonical JSON, without the keys that record
  how or where the file was written (`BOOKKEEPING`: library versions, paths, the dtype it was saved
  in — the weights' own dtypes are in the weights digest — and run-time flags such as `use_cache`);
- **tokenizer**: the tokenizer files, JSON ones canonicalised and without their bookkeeping keys
  (`local_files_only`, `is_local`, `name_or_path`, the class names of the Python wrapper); others
  (tokenizer.model, merges.txt, a chat template) by their bytes.

Hashing 500 MB of weights takes seconds, so each file's digest is cached under `<home>/digests/`,
keyed by (absolute path, size, mtime_ns, `VERSION`): re-fingerprinting an unchanged folder only stats
its files. Any write to a file changes its mtime (or size) and so its digest.

`VERSION` 2 (this scheme) replaced version 1 (raw file bytes, which recorded `transformers_version`
and the hub-offline flag, so a fresh install of the same model got another identity).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forgetbench.core.fs import atomic_write_bytes
from forgetbench.core.hashing import digest, file_sha256
from forgetbench.core.home import forgetbench_home
from forgetbench.core.model import Fingerprint

VERSION = 2
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
BOOKKEEPING = frozenset({
    # how and where a file was written, not what the model computes
    "transformers_version", "_name_or_path", "name_or_path", "_model_name_or_path", "_commit_hash",
    "_from_model_config", "local_files_only", "is_local", "tokenizer_file",
    # the dtype the weights were saved in (each tensor's own dtype is part of the weights digest)
    "torch_dtype", "dtype",
    # run-time switches that do not change a forward pass's values
    "use_cache", "output_attentions", "output_hidden_states", "return_dict", "_attn_implementation",
    "_attn_implementation_autoset",
    # the Python wrapper class of a tokenizer (renamed across transformers versions; same token ids)
    "tokenizer_class", "backend",
})  # fmt: skip


def _tensors(path: Path) -> list[list]:
    """(name, dtype, shape, sha256 of the bytes) of each tensor in a safetensors file, in name order."""
    with path.open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
        out = []
        for name in sorted(k for k in header if k != "__metadata__"):
            t = header[name]
            start, end = t["data_offsets"]
            fh.seek(8 + n + start)
            h, left = hashlib.sha256(), end - start
            while left:
                block = fh.read(min(left, 1 << 22))
                h.update(block)
                left -= len(block)
            out.append([name, t["dtype"], t["shape"], h.hexdigest()])
    return out


def _json_digest(path: Path) -> str:
    """Canonical JSON of a config or tokenizer file, without its top-level bookkeeping keys."""
    data = json.loads(path.read_text())
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in BOOKKEEPING}
    return digest(data)


def _content(path: Path) -> Any:
    """What a file contributes: its tensors (safetensors), its canonical content (JSON), or its bytes."""
    if path.suffix == ".safetensors":
        return _tensors(path)
    if path.suffix == ".json":
        return _json_digest(path)
    return file_sha256(path)


def _cached(path: Path, kind: str, compute: Callable[[Path], Any], cache_dir: Path | None) -> Any:
    """`compute(path)`, cached as JSON by (kind, VERSION, absolute path, size, mtime_ns) under `<home>/digests/`."""
    path = path.resolve()
    st = path.stat()
    cache = (cache_dir or forgetbench_home() / "digests") / digest([kind, VERSION, str(path), st.st_size, st.st_mtime_ns])
    if cache.is_file():
        try:
            return json.loads(cache.read_text())
        except json.JSONDecodeError:
            pass  # a damaged cache entry is recomputed
    value = compute(path)
    try:
        atomic_write_bytes(cache, json.dumps(value).encode())
    except OSError:
        pass  # an unwritable cache only costs speed; the digest itself is exact
    return value


def file_content(path: Path, cache_dir: Path | None = None) -> Any:
    """What a file contributes to a fingerprint (`_content`), cached."""
    return _cached(path, "content", _content, cache_dir)


def file_digest(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 of a file's bytes (a GGUF file's identity), cached."""
    return str(_cached(path, "bytes", file_sha256, cache_dir))


TRAINER_STATE = ("optimizer.pt", "scheduler.pt", "scaler.pt", "training_args.bin", "rng_state")
"""What transformers' Trainer saves beside a checkpoint's weights (optimizer and scheduler state, RNG
states `rng_state*.pth`, its arguments): not part of what the model computes."""


def weight_files(folder: Path) -> list[Path]:
    """Weight files directly inside `folder`, sorted by name (a trainer's saved state excluded)."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES) and not p.name.startswith(TRAINER_STATE)
    )


def _named(folder: Path, names: tuple[str, ...], cache_dir: Path | None) -> str:
    return digest([[n, file_content(folder / n, cache_dir)] for n in names if (folder / n).is_file()])


def config_digest(folder: Path, cache_dir: Path | None = None) -> str:
    """Digest of a folder's config.json and generation_config.json (`Fingerprint.config`)."""
    return _named(folder, CONFIG_FILES, cache_dir)


def tokenizer_digest(folder: Path, cache_dir: Path | None = None) -> str:
    """Digest of a folder's tokenizer files (`Fingerprint.tokenizer`)."""
    return _named(folder, TOKENIZER_FILES, cache_dir)


def _weights(folder: Path, cache_dir: Path | None) -> str:
    """Tensors of all safetensors files together (sharding-independent), then other weight files by name and bytes."""
    tensors, others = [], []
    for path in weight_files(folder):
        content = file_content(path, cache_dir)
        if isinstance(content, list):
            tensors += content
        else:
            others.append([path.name, content])
    return digest([sorted(tensors), others])


def fingerprint(folder: Path, cache_dir: Path | None = None) -> Fingerprint:
    """Fingerprint of the HF model folder `folder` (files assumed validated by `models.validate`)."""
    config = config_digest(folder, cache_dir)
    tokenizer = tokenizer_digest(folder, cache_dir)
    weights = _weights(folder, cache_dir)
    return Fingerprint(digest([VERSION, config, tokenizer, weights]), config, tokenizer, weights)
