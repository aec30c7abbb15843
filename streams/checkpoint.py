"""Model checkpoints stored together with the input offsets they cover.

Why: every delayed label must be learned exactly once, also across restarts. The
worker's whole model state (``Pipeline.snapshot()``) and the next offset of every
input partition it has consumed are written in ONE file, atomically (temp file,
fsync, rename). After a crash the worker restores that state and re-processes
exactly the inputs after those offsets; anything before them is already in the
state and is skipped. Kafka committed offsets are only a hint (they are committed
after the file, so they never run ahead of it).

A file, not a compacted topic: a River model can exceed Kafka's default 1 MB
message limit, and the file lives next to the worker (``data_dir/checkpoints``,
a persistent volume in production).

Format: a magic line, one JSON line of metadata (offsets, input count, the Kafka
topic ids the offsets refer to, sha256 and size of the blob), then the pickled
pipeline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"smartdeploy-checkpoint/1\n"

TP = tuple[str, int]


class CheckpointError(RuntimeError):
    """The checkpoint file exists but is unreadable or corrupt."""


@dataclass(frozen=True)
class Checkpoint:
    """Model state plus the next offset to read of every input partition it covers."""

    blob: bytes
    offsets: Mapping[TP, int] = field(default_factory=dict)
    inputs: int = 0
    topic_ids: Mapping[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Serialise (see the module docstring for the format).

        >>> c = Checkpoint(b"state", {("t", 1): 5}, inputs=5, topic_ids={"t": "AbC"})
        >>> Checkpoint.from_bytes(c.to_bytes()) == c
        True
        """
        by_topic: dict[str, dict[str, int]] = {}
        for (topic, partition), offset in sorted(self.offsets.items()):
            by_topic.setdefault(topic, {})[str(partition)] = int(offset)
        meta = {
            "offsets": by_topic,
            "inputs": self.inputs,
            "topic_ids": dict(sorted(self.topic_ids.items())),
            "size": len(self.blob),
            "sha256": hashlib.sha256(self.blob).hexdigest(),
        }
        return MAGIC + json.dumps(meta, sort_keys=True).encode() + b"\n" + self.blob

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        if not data.startswith(MAGIC):
            raise CheckpointError("not a smartdeploy checkpoint (bad magic)")
        head, sep, blob = data[len(MAGIC):].partition(b"\n")
        if not sep:
            raise CheckpointError("truncated checkpoint (no metadata line)")
        try:
            meta = json.loads(head)
        except ValueError as exc:
            raise CheckpointError(f"bad checkpoint metadata: {exc}") from exc
        if len(blob) != meta.get("size") or hashlib.sha256(blob).hexdigest() != meta.get(
            "sha256"
        ):
            raise CheckpointError("checkpoint blob does not match its checksum")
        offsets = {
            (topic, int(partition)): int(offset)
            for topic, parts in meta["offsets"].items()
            for partition, offset in parts.items()
        }
        return cls(
            blob=blob, offsets=offsets, inputs=int(meta.get("inputs", 0)),
            topic_ids=dict(meta.get("topic_ids") or {}),
        )


class CheckpointStore:
    """One checkpoint file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Checkpoint | None:
        """The stored checkpoint, or None when there is none yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return Checkpoint.from_bytes(data)

    def save(self, checkpoint: Checkpoint) -> None:
        """Write to a temp file in the same directory, fsync, rename over the old one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(checkpoint.to_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def valid_positions(
    offsets: Mapping[TP, int], saved_ids: Mapping[str, str], current_ids: Mapping[str, str]
) -> dict[TP, int]:
    """Drop the positions of topics recreated since the checkpoint (their Kafka topic id
    changed).

    The embedded broker is memory-only: after its restart every topic is new and
    starts at offset 0; keeping the old positions would skip the new messages as
    "already learned". Unknown ids (old brokers) keep the positions. High watermarks
    are no guide here: Tansu reports the last batch's base offset + 1 as log end.

    >>> valid_positions({("t", 0): 10, ("u", 0): 4}, {"t": "A", "u": "B"}, {"t": "C", "u": "B"})
    {('u', 0): 4}
    """
    kept: dict[TP, int] = {}
    for tp, offset in offsets.items():
        old, new = saved_ids.get(tp[0]), current_ids.get(tp[0])
        if old and new and old != new:
            log.warning(
                "topic %s was recreated since the checkpoint (id %s -> %s): "
                "its old position %s is void, reading it from the start",
                tp[0], old, new, offset,
            )
            continue
        kept[tp] = offset
    return kept
