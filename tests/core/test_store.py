"""The results store: atomic entries, locks, unwritable roots."""

from __future__ import annotations

import threading

import pytest

from forgetbench.core.errors import StoreError
from forgetbench.core.fs import atomic_write_bytes
from forgetbench.core.hashing import digest
from forgetbench.core.store import Store


def test_put_then_get(store):
    assert store.get("ns", "ab" * 32) is None
    store.put("ns", "ab" * 32, lambda d: (d / "x.txt").write_text("hello"))
    entry = store.get("ns", "ab" * 32)
    assert (entry / "x.txt").read_text() == "hello"


def test_failed_writer_leaves_nothing(store):
    def boom(folder):
        (folder / "half.txt").write_text("partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.put("ns", "cd" * 32, boom)
    assert store.get("ns", "cd" * 32) is None
    assert not any(p.name.endswith(".tmp") for p in (store.root / "ns").rglob("*"))


def test_concurrent_writers_of_one_key_produce_one_entry(store):
    calls = []

    def write(folder):
        calls.append(1)
        (folder / "v.txt").write_text(str(len(calls)))

    threads = [threading.Thread(target=store.put, args=("ns", "ef" * 32, write)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert (store.get("ns", "ef" * 32) / "v.txt").read_text() == "1"


def test_store_under_a_file_is_not_writable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        Store(blocker).check_writable()
    with pytest.raises(StoreError, match="not writable"):
        Store(blocker / "sub").check_writable()


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_bytes(p, b"one")
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    assert [x.name for x in tmp_path.iterdir()] == ["a.json"]


def test_digest_is_order_independent_for_dict_keys():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
