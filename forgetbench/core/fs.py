"""Atomic file helpers: nothing forgetbench writes is ever seen half-written.

- `atomic_write_bytes`: a file written to a temporary sibling and renamed into place.
- `file_lock`: an exclusive advisory lock for the duration of a block.
- `build_once`: take a lock, check, build into a temporary folder, rename — the one way forgetbench
  materialises a folder (store entries, converted models, embedded models, the demo checkpoint).
- `write_folder`: a run folder written whole into a temporary folder and moved into place; a failed
  write (a full disk) leaves the folder as it was and names the file (`WriteError`, exit 3).
  A builder killed mid-way leaves a `.NAME.*.tmp` sibling; the next builder of the same folder, which
  holds the lock, removes it before building.

Everything written follows the process umask (a shared `$FORGETBENCH_HOME` stays readable to a team).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from forgetbench.core.errors import UserInputError, WriteError


def umask() -> int:
    """The process umask (read without changing it for longer than two calls)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and an atomic rename; `path` is
    untouched when the write fails, and the OS error names `path` (a full disk's names no file)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; the result should read like any written file
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename in (None, tmp):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on `path` (created if missing) for the duration of the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _tmp_prefix(final: Path) -> str:
    return f".{final.name}."


def _remove(path: Path) -> int:
    """Remove a file or folder; the bytes it held."""
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return size


def remove_stale_tmp(final: Path) -> int:
    """Remove temporary siblings a killed builder of `final` left behind (call with its lock held);
    the bytes freed."""
    freed = 0
    if final.parent.is_dir():
        for stale in final.parent.glob(f"{_tmp_prefix(final)}*.tmp"):
            freed += _remove(stale)
    return freed


def try_lock(path: Path) -> int | None:
    """The fd of a non-blocking exclusive lock on `path`, or None when someone holds it (release with
    `os.close`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def clean_abandoned(folder: Path, lock_of: Callable[[Path, str], Path]) -> tuple[list[Path], int]:
    """Remove the `.NAME.*.tmp` temporaries under `folder` whose builder is gone (the lock
    `lock_of(tmp, NAME)` is free); a temporary whose lock is held belongs to a live build and is kept.
    Returns (removed, bytes freed)."""
    removed, freed = [], 0
    for tmp in sorted(folder.rglob(".*.tmp")) if folder.is_dir() else []:
        name = tmp.name[1:].rsplit(".", 2)[0]
        fd = try_lock(lock_of(tmp, name))
        if fd is None:
            continue
        try:
            freed += _remove(tmp)
            removed.append(tmp)
        finally:
            os.close(fd)
    return removed, freed


def _open_permissions(folder: Path) -> None:
    """mkdtemp makes 0700; give the folder and what was built in it the umask's permissions."""
    mask = umask()
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o777 & ~mask)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o666 & ~mask)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)


def build_once(final: Path, lock: Path, build: Callable[[Path], None], *, done: Callable[[Path], bool] | None = None) -> Path:
    """Materialise the folder `final` by `build(tmp)` unless it is already there; return `final`.

    Under the exclusive lock `lock`: if `done(final)` (default: `final` is a folder) nothing is built;
    otherwise stale temporaries of earlier killed builders are removed, `build` fills a fresh temporary
    sibling, and the sibling is renamed to `final`. A failing `build` leaves nothing behind.
    """
    final = Path(final)
    done = done or (lambda p: p.is_dir())
    with file_lock(lock):
        if done(final):
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(final)
        if final.is_dir():  # incomplete by `done`'s measure: rebuilt
            shutil.rmtree(final)
        elif final.exists():
            raise NotADirectoryError(f"{final} exists and is not a folder")
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=_tmp_prefix(final), suffix=".tmp"))
        try:
            build(tmp)
            _open_permissions(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def os_reason(exc: OSError) -> str:
    """The short reason of an OS error ("Permission denied", "Not a directory")."""
    return exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)


def probe_folder(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be written in it (OSError otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".write-probe-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


def check_output_path(path: Path, what: str) -> None:
    """Before any compute: `path` (a file the user named) can be written — its folder exists or can be
    made, is writable, and `path` is not a folder. UserInputError (exit 2, one line) otherwise."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{what} {path} is a folder, not a file")
    try:
        probe_folder(path.parent)
    except OSError as exc:
        raise UserInputError(f"{what} {path}: cannot write there ({os_reason(exc)})") from None


def write_output(path: Path, data: bytes, what: str) -> None:
    """`atomic_write_bytes` to a path the user named: an OS error is a usage error (exit 2, one line)."""
    try:
        atomic_write_bytes(Path(path), data)
    except OSError as exc:
        raise UserInputError(f"{what} {path}: cannot write ({os_reason(exc)})") from None


def write_figure(fig: Any, out: Path, what: str) -> list[Path]:
    """A matplotlib figure (anything with `savefig`) as OUT.png and OUT.svg, each with `write_output`."""
    import io

    paths = [out.with_suffix(".png"), out.with_suffix(".svg")]
    for path in paths:
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix[1:])
        write_output(path, buf.getvalue(), what)
    return paths


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` and flush it to disk; an OS error names `path` (its `filename`)."""
    try:
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def _commit_order(name: str) -> tuple[bool, bool, str]:
    """Rows first, then the JSON sealing them, then the page drawn from both."""
    return name.endswith(".json"), name.endswith(".html"), name


def _merge(tmp: Path, final: Path, owned: Iterable[str]) -> None:
    """Move each file of `tmp` over its namesake in the existing folder `final` (a rename each: no space
    needed), then remove the `owned` files the new write did not make (an older run's kl.parquet)."""
    written = sorted((p.name for p in tmp.iterdir()), key=_commit_order)
    for name in written:
        os.replace(tmp / name, final / name)
    for name in set(owned) - set(written):
        (final / name).unlink(missing_ok=True)
    tmp.rmdir()


def write_folder(final: Path, build: Callable[[Path], None], owned: Iterable[str] = ()) -> Path:
    """Write the folder `final` whole: `build(tmp)` fills a temporary folder (with `write_file`), which is
    then renamed to `final` when there is none (or an empty one), or whose files replace their namesakes in an existing
    `final` (a rerun into the same folder: other files there are kept; `owned` names the files this kind
    of folder holds, removed when the new write has none). Until then `final` is untouched: a failed
    build (a full disk) removes the temporary and raises `WriteError` (exit 3) naming the file."""
    final = Path(final)
    path = Path(os.path.abspath(final))
    if path.is_dir() and not any(path.iterdir()):  # made empty by a check before the run: written as a new one
        with contextlib.suppress(OSError):
            path.rmdir()
    existed, tmp, step = path.is_dir(), None, "build"
    try:
        if existed:  # the temporary lives inside: the folder is writable, its parent need not be
            tmp = Path(tempfile.mkdtemp(dir=path, prefix=".write.", suffix=".tmp"))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=_tmp_prefix(path), suffix=".tmp"))
        build(tmp)
        _open_permissions(tmp)
        step = "commit"
        _merge(tmp, path, owned) if existed else os.rename(tmp, path)
    except OSError as exc:
        name = Path(exc.filename or final)
        where = final / name.relative_to(tmp) if tmp is not None and name.is_relative_to(tmp) else name
        state = (
            f"{final} was not created"
            if not existed
            else f"the run folder {final} was left as it was"
            if step == "build"
            else f"the run folder {final} may mix files of the old and the new run"
        )
        raise WriteError(f"cannot write {where}: {os_reason(exc)} ({state})") from None
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
