"""Cheap checks that a folder is a complete Hugging Face causal-LM folder, without loading it:
config.json parses and names a model type, weight files exist and their headers account for every
byte (a truncated download is caught here, not deep inside a backend), shards listed in an index are
present, and tokenizer files exist."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from forgetbench.core.errors import ModelSpecError
from forgetbench.models.fingerprint import TOKENIZER_FILES, weight_files


def _header(path: Path) -> tuple[int, dict]:
    """(header length, header) of a safetensors file; ModelSpecError when it cannot be read."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ModelSpecError(f"{path}: corrupt or truncated weights (file too short)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100_000_000:
            raise ModelSpecError(f"{path}: corrupt or truncated weights (bad safetensors header)")
        try:
            header = json.loads(fh.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelSpecError(f"{path}: corrupt weights (unreadable safetensors header)") from None
    if not isinstance(header, dict):
        raise ModelSpecError(f"{path}: corrupt weights (unreadable safetensors header)")
    return n, header


def _check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    n, header = _header(path)
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    if 8 + n + max(ends, default=0) != size:
        raise ModelSpecError(
            f"{path}: corrupt or truncated weights ({size} bytes, header expects {8 + n + max(ends, default=0)})"
        )


def _check_torch_pickle(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            zf.infolist()
    except (zipfile.BadZipFile, OSError):
        raise ModelSpecError(f"{path}: corrupt or truncated weights (not a readable PyTorch archive)") from None


def check_weight_file(path: Path) -> None:
    """A weight file is whole: a safetensors file's header accounts for every byte, a PyTorch archive opens."""
    if path.suffix == ".safetensors":
        _check_safetensors(path)
    else:
        _check_torch_pickle(path)


def tensor_shapes(folder: Path, files: list[Path] | None = None) -> dict[str, list[int]] | None:
    """Tensor name → shape over the weight files of `folder` (or `files`), read from safetensors headers;
    None when any of them is not safetensors (a PyTorch pickle's shapes need torch to read)."""
    files = weight_files(folder) if files is None else files
    if any(f.suffix != ".safetensors" for f in files):
        return None
    return {k: list(t["shape"]) for f in files for k, t in _header(f)[1].items() if k != "__metadata__"}


def validate_folder(folder: Path) -> None:
    """Check that `folder` is a complete HF causal-LM folder without loading it (cheap: headers only)."""
    config = folder / "config.json"
    if not config.is_file():
        raise ModelSpecError(f"{folder}: not a model folder (no config.json)")
    try:
        cfg = json.loads(config.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelSpecError(f"{config}: is not valid JSON") from None
    if not isinstance(cfg, dict) or "model_type" not in cfg:
        raise ModelSpecError(f"{config}: not a model config (no model_type)")
    weights = weight_files(folder)
    if not weights:
        raise ModelSpecError(f"{folder}: no weight files (*.safetensors or *.bin)")
    for index in folder.glob("*.index.json"):
        shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        missing = sorted(s for s in shards if not (folder / s).is_file())
        if missing:
            raise ModelSpecError(f"{folder}: weight shards listed in {index.name} are missing: {missing[0]}")
    for w in weights:
        check_weight_file(w)
    if not any((folder / n).is_file() for n in TOKENIZER_FILES):
        raise ModelSpecError(f"{folder}: no tokenizer files (tokenizer.json, tokenizer.model, vocab.json...)")
