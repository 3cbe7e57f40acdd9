"""Caches never leave half-written files and are keyed by what they were built from."""

from __future__ import annotations

import os

import numpy as np
import pytest

from motionzoo.data.cache import atomic_save_npz, atomic_write, cached_arrays, fingerprint


def test_atomic_write_leaves_nothing_when_the_writer_raises(tmp_path):
    target = tmp_path / "sub" / "cache.npz"

    def broken(tmp):
        tmp.write_bytes(b"half a file")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, broken)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # the temporary file is gone too


def test_atomic_write_keeps_the_old_file_when_the_writer_raises(tmp_path):
    target = tmp_path / "cache.bin"
    target.write_bytes(b"old")

    def broken(tmp):
        tmp.write_bytes(b"new but incomplete")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cache.bin"]

    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new"


def test_atomic_save_npz_keeps_the_exact_name(tmp_path):
    path = atomic_save_npz(tmp_path / "arrays.cache", a=np.arange(3), b=np.eye(2))
    assert path == tmp_path / "arrays.cache" and path.exists()
    with np.load(path) as f:
        np.testing.assert_array_equal(f["a"], np.arange(3))
        np.testing.assert_array_equal(f["b"], np.eye(2))


def test_fingerprint_changes_with_file_contents_time_and_params(tmp_path):
    data = tmp_path / "data.npz"
    data.write_bytes(b"0123")
    base = fingerprint([data], stride=1, joints=17)
    assert fingerprint([data], joints=17, stride=1) == base  # parameter order is irrelevant
    assert fingerprint([str(data)], stride=1, joints=17) == base
    assert fingerprint([data], stride=2, joints=17) != base

    data.write_bytes(b"01234")  # new size
    changed = fingerprint([data], stride=1, joints=17)
    assert changed != base

    st = data.stat()
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # same size, new mtime
    assert fingerprint([data], stride=1, joints=17) != changed


def test_fingerprint_of_a_missing_file_fails(tmp_path):
    with pytest.raises(FileNotFoundError):
        fingerprint([tmp_path / "absent.npz"])


def test_cached_arrays_builds_once_and_not_on_failure(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(4.0)}

    path = tmp_path / "c.npz"
    first = cached_arrays(path, build)
    second = cached_arrays(path, build)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], second["x"])

    def failing():
        raise ValueError("bad input")

    broken = tmp_path / "broken.npz"
    with pytest.raises(ValueError, match="bad input"):
        cached_arrays(broken, failing)
    assert not broken.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]
