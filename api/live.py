"""Live feed: the records the UI must see as they happen, fanned out to SSE clients.

The composition root feeds it (a Kafka consumer on the output topics, or the
history writer forwarding what it stores); the ``/v1/stream`` endpoint drains
one subscription per browser. ``publish`` is thread-safe because feeders run
in their own threads while subscribers live on the server's event loop.
A slow client never blocks the feed: its queue is bounded and drops the oldest
records (the UI reloads details on demand, so a gap costs freshness, not truth).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class LiveEvent:
    """One record on the feed: a monotonically increasing sequence number and the record."""

    seq: int
    record: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.record.get("type") or "record")


class Subscription(Protocol):
    """An open subscription; iterate it asynchronously, close it when the client leaves."""

    def __aiter__(self) -> AsyncIterator[LiveEvent]: ...

    async def next(self, timeout: float) -> LiveEvent | None: ...

    def close(self) -> None: ...


class LiveFeed(Protocol):
    """Publish records from any thread; subscribe from the event loop."""

    def publish(self, record: dict[str, Any]) -> None: ...

    def subscribe(self, replay: int = 0) -> Subscription: ...


class _Sub:
    """A bounded per-client queue bound to the event loop that created it."""

    def __init__(self, feed: InMemoryLiveFeed, maxsize: int) -> None:
        self._feed = feed
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def _offer(self, event: LiveEvent) -> None:
        """Runs on the subscriber's loop; drop the oldest record when the client lags."""
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def deliver(self, event: LiveEvent) -> None:
        try:
            self._loop.call_soon_threadsafe(self._offer, event)
        except RuntimeError:  # loop closed: the client is gone
            self.close()

    async def next(self, timeout: float) -> LiveEvent | None:
        """The next record, or None after ``timeout`` seconds (time for a heartbeat)."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def __anext__(self) -> LiveEvent:
        return await self._queue.get()

    def __aiter__(self) -> _Sub:
        return self

    def close(self) -> None:
        self._feed._remove(self)


class InMemoryLiveFeed:
    """In-process pub/sub with a small replay buffer of the most recent records."""

    def __init__(self, history: int = 200, queue_size: int = 1000) -> None:
        self._lock = threading.Lock()
        self._subs: list[_Sub] = []
        self._recent: deque[LiveEvent] = deque(maxlen=history)
        self._seq = itertools.count(1)
        self._queue_size = queue_size
        self._changed = threading.Condition(self._lock)

    def publish(self, record: dict[str, Any]) -> None:
        """Fan one record out to every subscriber (callable from any thread)."""
        with self._lock:
            event = LiveEvent(next(self._seq), record)
            self._recent.append(event)
            subs = list(self._subs)
        for sub in subs:
            sub.deliver(event)

    def subscribe(self, replay: int = 0) -> _Sub:
        """A new subscription, pre-filled with up to ``replay`` of the most recent records."""
        sub = _Sub(self, self._queue_size)
        with self._lock:
            backlog = list(self._recent)[-replay:] if replay > 0 else []
            for event in backlog:
                sub._offer(event)
            self._subs.append(sub)
            self._changed.notify_all()
        return sub

    def _remove(self, sub: _Sub) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
            self._changed.notify_all()

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs)

    def wait_for_subscribers(self, count: int, timeout: float | None = None) -> bool:
        """Block until at least ``count`` clients are subscribed (tests, demo drivers)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._subs) >= count, timeout)
