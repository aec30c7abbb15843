"""An in-memory stand-in for confluent_kafka.Producer, for the router's unit tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class FakeProducer:
    """Queues messages and acknowledges them on ``poll``, like librdkafka does.

    ``full=True`` makes ``produce`` raise BufferError (local queue full);
    ``fail_with`` makes every delivery report that error; ``broken`` makes ``produce``
    raise something unexpected.
    """

    def __init__(
        self, *, full: bool = False, fail_with: str | None = None, broken: bool = False
    ) -> None:
        self.full = full
        self.fail_with = fail_with
        self.broken = broken
        self.flushes = 0
        self.sent: list[tuple[str, bytes, bytes]] = []
        self._pending: list[tuple[Callable[[Any, Any], None], Any]] = []
        self._lock = threading.Lock()

    def produce(
        self, topic: str, *, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]
    ) -> None:
        if self.full:
            raise BufferError("Local: Queue full")
        if self.broken:
            raise RuntimeError("unexpected producer failure")
        with self._lock:
            self.sent.append((topic, key, value))
            self._pending.append((on_delivery, (topic, key)))

    def poll(self, timeout: float) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
        for callback, msg in pending:
            callback(self.fail_with, msg)
        if not pending:
            time.sleep(min(timeout, 0.005))
        return len(pending)

    def flush(self, timeout: float) -> int:
        self.flushes += 1
        self.poll(0)
        return 0
