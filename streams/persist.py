"""Writes checkpoints in the background, in order, only once their outputs are in Kafka.

A checkpoint claims "every input up to these offsets is in this state, and every
record they caused is published". So the snapshot is taken synchronously between
two inputs, and the file is written only after Kafka acknowledged each output
queued before the snapshot; then the offsets are committed to the group as a hint.
Checkpoints are chained: one never lands before its predecessor, and a failed one
fails all later ones (they cover its outputs too), which stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from streams.checkpoint import TP, Checkpoint, CheckpointStore

log = logging.getLogger(__name__)

Commit = Callable[[Mapping[TP, int]], Awaitable[None]]


class CheckpointWriter:
    """Chained background persistence of checkpoints."""

    def __init__(
        self,
        store: CheckpointStore,
        commit: Commit,
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self.store = store
        self._commit = commit
        self._on_failure = on_failure
        self._last: asyncio.Future[None] | None = None
        self.written = 0

    def busy(self) -> bool:
        return self._last is not None and not self._last.done()

    async def idle(self) -> None:
        """Wait for the checkpoint in flight (never raises; failures are reported)."""
        if self._last is not None:
            await asyncio.wait({self._last})

    def schedule(self, ckpt: Checkpoint, pending: list[Any]) -> asyncio.Future[None]:
        """Persist ``ckpt`` after ``pending`` sends completed and after its predecessor."""
        task = asyncio.ensure_future(self._persist(self._last, ckpt, pending))
        task.add_done_callback(self._done)
        self._last = task
        return task

    async def _persist(
        self, previous: asyncio.Future[None] | None, ckpt: Checkpoint, pending: list[Any]
    ) -> None:
        if previous is not None:
            await previous
        if pending:
            await asyncio.gather(*pending)
        await asyncio.to_thread(self.store.save, ckpt)
        self.written += 1
        await self._commit(ckpt.offsets)

    def _done(self, task: asyncio.Future[None]) -> None:
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            self._on_failure(exc)
