"""Content-addressed results store with atomic writes and file locks.

Layout: `<root>/<namespace>/<key[:2]>/<key>/` holds one entry (a folder of files). An entry is
written into a temporary sibling folder and renamed into place, so a reader sees either nothing or a
complete entry: a killed run never leaves a half-written entry that a later run trusts. Writers of
the same key are serialised by a lock file; the first complete entry wins.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from forgetbench.errors import StoreError


def digest(obj: object) -> str:
    """sha256 of the canonical JSON of `obj` (sorted keys): the store's key function."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result should read like any written file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on `path` (created if missing) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it is renamed to `final` (replacing nothing:
    if `final` appeared meanwhile, the new copy is discarded). On error it is removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(tmp)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class Store:
    """A results store rooted at a folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def check_writable(self) -> None:
        """Create the root if needed and prove it is writable; StoreError (one line) otherwise."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"store {self.root} exists and is not a directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"store {self.root} is not writable ({exc.strerror or exc})") from None

    def entry_path(self, namespace: str, key: str) -> Path:
        """Folder of the entry `key` in `namespace` (may not exist)."""
        return self.root / namespace / key[:2] / key

    def get(self, namespace: str, key: str) -> Path | None:
        """The entry's folder when a complete entry exists, else None."""
        path = self.entry_path(namespace, key)
        return path if path.is_dir() else None

    def put(self, namespace: str, key: str, write: Callable[[Path], None]) -> Path:
        """Create the entry by calling `write(tmp_folder)` unless it exists; return its folder."""
        final = self.entry_path(namespace, key)
        with file_lock(self.root / ".locks" / f"{namespace}-{key}.lock"):
            if final.is_dir():
                return final
            with atomic_dir(final) as tmp:
                write(tmp)
        return final
