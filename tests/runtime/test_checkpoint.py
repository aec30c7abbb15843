"""Checkpoint files: atomic replacement, integrity, and stale positions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.checkpoint import Checkpoint, CheckpointError, CheckpointStore


def test_saved_checkpoint_loads_back_identically(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "c" / "w.ckpt")
    assert store.load() is None
    ckpt = Checkpoint(b"\x00state" * 1000, {("a", 0): 5, ("b", 3): 0}, inputs=5)
    store.save(ckpt)
    assert store.load() == ckpt


def test_a_failed_save_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CheckpointStore(tmp_path / "w.ckpt")
    old = Checkpoint(b"old", {("a", 0): 1}, 1)
    store.save(old)

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.save(Checkpoint(b"new", {("a", 0): 2}, 2))
    monkeypatch.undo()
    assert store.load() == old
    assert [p.name for p in tmp_path.iterdir()] == ["w.ckpt"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "magic"])
def test_a_damaged_checkpoint_is_refused(tmp_path: Path, damage: str) -> None:
    store = CheckpointStore(tmp_path / "w.ckpt")
    store.save(Checkpoint(b"payload-bytes", {("a", 0): 1}, 1))
    data = store.path.read_bytes()
    if damage == "truncate":
        data = data[:-3]
    elif damage == "flip":
        data = data[:-1] + bytes([data[-1] ^ 1])
    else:
        data = b"X" + data[1:]
    store.path.write_bytes(data)
    with pytest.raises(CheckpointError):
        store.load()
