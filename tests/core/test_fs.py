"""Atomic folders (`build_once`): nothing half-built is ever seen, killed builds are cleaned up, and
what is built follows the umask (a shared home stays readable to a team)."""

from __future__ import annotations

import os
import stat

import pytest

from forgetbench.core.fs import build_once, clean_abandoned, try_lock


def _build(tmp):
    (tmp / "sub").mkdir()
    (tmp / "sub" / "weights.bin").write_bytes(b"w")
    (tmp / "config.json").write_text("{}")


def test_what_is_built_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        final = build_once(tmp_path / "model", tmp_path / ".locks" / "model.lock", _build)
    finally:
        os.umask(old)
    assert stat.S_IMODE(final.stat().st_mode) == 0o755  # mkdtemp alone would leave 0700
    assert stat.S_IMODE((final / "sub").stat().st_mode) == 0o755
    assert stat.S_IMODE((final / "sub" / "weights.bin").stat().st_mode) == 0o644


def test_a_killed_builders_temporary_is_removed_by_the_next_build(tmp_path):
    abandoned = tmp_path / ".model.k1ll3d.tmp"  # what a build killed with -9 leaves
    abandoned.mkdir()
    (abandoned / "half.safetensors").write_bytes(b"x" * 100)
    build_once(tmp_path / "model", tmp_path / ".locks" / "model.lock", _build)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".locks", "model"]


def test_a_failing_build_leaves_nothing_and_a_file_in_the_way_is_refused(tmp_path):
    def boom(tmp):
        (tmp / "half").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        build_once(tmp_path / "model", tmp_path / ".locks" / "model.lock", boom)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".locks"]
    (tmp_path / "model").write_text("not a folder")
    with pytest.raises(NotADirectoryError):
        build_once(tmp_path / "model", tmp_path / ".locks" / "model.lock", _build)


def test_clean_keeps_a_temporary_whose_build_is_alive(tmp_path):
    for name in ("alive", "dead"):
        (tmp_path / f".{name}.abc123.tmp").mkdir()
    held = try_lock(tmp_path / ".locks" / "alive.lock")
    assert held is not None
    try:
        removed, _ = clean_abandoned(tmp_path, lambda tmp, name: tmp_path / ".locks" / f"{name}.lock")
    finally:
        os.close(held)
    assert [p.name for p in removed] == [".dead.abc123.tmp"]
    assert (tmp_path / ".alive.abc123.tmp").is_dir()


# Run folders written whole (`write_folder`): a full disk leaves the folder as it was and names the file.
# The full disk is real: RLIMIT_FSIZE makes the kernel refuse the write (EFBIG, SIGXFSZ ignored), no monkeypatching.

import contextlib  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402

from forgetbench.core.errors import WriteError  # noqa: E402
from forgetbench.core.fs import write_file, write_folder  # noqa: E402


@contextlib.contextmanager
def disk_full_after(nbytes: int):
    """Every file write past `nbytes` fails in this process (the soft limit is raised back afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


def _files(tmp):
    write_file(tmp / "items.parquet", b"i" * 100)
    write_file(tmp / "report.json", b"j" * 5000)  # past the limit: the disk is full here


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("prepared", [False, True])
def test_a_full_disk_leaves_no_run_folder_and_names_the_file(tmp_path, prepared):
    """Also when the folder was made (empty) by the check before the run: it is not left behind."""
    if prepared:
        (tmp_path / "run").mkdir()
    with disk_full_after(1000), pytest.raises(WriteError) as info:
        write_folder(tmp_path / "run", _files)
    msg = str(info.value)
    assert info.value.exit_code == 3 and "\n" not in msg
    assert f"cannot write {tmp_path / 'run' / 'report.json'}: File too large" in msg and "was not created" in msg
    assert list(tmp_path.iterdir()) == []  # no half-written folder (only items.parquet), no temporary


def test_a_full_disk_leaves_an_existing_run_folder_as_it_was(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "items.parquet").write_bytes(b"old items")
    (run / "report.json").write_bytes(b"old report")
    before = _tree(tmp_path)
    with disk_full_after(1000), pytest.raises(WriteError, match=r"report\.json: File too large .*left as it was"):
        write_folder(run, _files)
    assert _tree(tmp_path) == before and sorted(p.name for p in run.iterdir()) == ["items.parquet", "report.json"]


def test_a_rerun_replaces_the_run_files_and_keeps_the_users(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name, data in (("kl.parquet", b"an older run's"), ("report.json", b"old"), ("notes.txt", b"mine")):
        (run / name).write_bytes(data)
    write_folder(run, lambda tmp: write_file(tmp / "report.json", b"new"), owned=("kl.parquet", "report.json"))
    assert _tree(run) == {"notes.txt": b"mine", "report.json": b"new"}  # no stale kl.parquet beside the new report
    write_folder(tmp_path / "fresh", lambda tmp: write_file(tmp / "report.json", b"new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "run"]
