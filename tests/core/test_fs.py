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
