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
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson


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

    def subscribe(self, replay: int = 0, after: int | None = None) -> Subscription: ...


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
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def add_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener(record)`` synchronously on every publish (cache invalidation)."""
        with self._lock:
            self._listeners.append(listener)

    def publish(self, record: dict[str, Any]) -> None:
        """Fan one record out to every subscriber (callable from any thread)."""
        with self._lock:
            event = LiveEvent(next(self._seq), record)
            self._recent.append(event)
            subs = list(self._subs)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(record)
        for sub in subs:
            sub.deliver(event)

    def subscribe(self, replay: int = 0, after: int | None = None) -> _Sub:
        """A new subscription, pre-filled with up to ``replay`` of the most recent records,
        or — for a client resuming with ``Last-Event-ID`` — every buffered one after ``after``."""
        sub = _Sub(self, self._queue_size)
        with self._lock:
            if after is not None:
                backlog = [e for e in self._recent if e.seq > after]
            else:
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


@dataclass
class _Entry:
    """A cached detail kept as bytes: a thousand parsed timelines are ~10^5 dicts that
    every full garbage collection would walk (tens of ms of pause); bytes are not tracked."""

    raw: bytes | None
    active: bool
    fetched_at: float
    rendered: bytes | None = None


class CachedReader:
    """A HistoryReader whose deployment details are served from memory while fresh.

    The detail view is the API's hot read (dashboards, scripts, the UI re-reading
    after every live record) and a timeline query over ClickHouse costs tens of
    milliseconds, so details are cached per deployment and kept fresh two ways:
    every record on the live feed about a deployment drops its entry at once,
    and a TTL bounds staleness from the feed/store race (the feed can deliver a
    record before the history writer has stored it): short while a deployment
    is in flight or just changed, long once it is finished. Lists, audit and
    model metrics always go to the store (they are paged and filtered freely).
    """

    def __init__(self, inner: Any, *, max_entries: int = 1000, ttl_active_s: float = 1.0,
                 ttl_done_s: float = 600.0, settle_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.max_entries = max_entries
        self.ttl_active_s = ttl_active_s
        self.ttl_done_s = ttl_done_s
        self.settle_s = settle_s
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._changed: dict[str, float] = {}

    def _ttl(self, deployment_id: str, entry: _Entry) -> float:
        changed = self._changed.get(deployment_id)
        if changed is not None and entry.fetched_at - changed < self.settle_s:
            return self.ttl_active_s
        return self.ttl_active_s if entry.active else self.ttl_done_s

    def _entry(self, deployment_id: str) -> _Entry:
        now = self.clock()
        with self._lock:
            entry = self._entries.get(deployment_id)
            if entry is not None and now - entry.fetched_at < self._ttl(deployment_id, entry):
                self._entries.move_to_end(deployment_id)
                self.hits += 1
                return entry
        self.misses += 1
        value = self.inner.get_deployment(deployment_id)
        active = value is None or value.get("status") in (None, "requested", "started")
        raw = None if value is None else orjson.dumps(value, default=str)
        entry = _Entry(raw, active, now)
        with self._lock:
            self._entries[deployment_id] = entry
            self._entries.move_to_end(deployment_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return entry

    def get_deployment(self, deployment_id: str) -> dict[str, Any] | None:
        raw = self._entry(deployment_id).raw
        return None if raw is None else dict(orjson.loads(raw))

    def peek_rendered(self, deployment_id: str) -> bytes | None:
        """The encoded detail if it is cached, fresh and already encoded; never blocks on
        the store (the event loop answers hits without a threadpool hop)."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(deployment_id)
            if (entry is None or entry.rendered is None
                    or now - entry.fetched_at >= self._ttl(deployment_id, entry)):
                return None
            self._entries.move_to_end(deployment_id)
            self.hits += 1
            return entry.rendered

    def get_rendered(self, deployment_id: str,
                     render: Callable[[dict[str, Any]], bytes]) -> bytes | None:
        """The detail as ``render`` encodes it, encoded once per cached version."""
        entry = self._entry(deployment_id)
        if entry.raw is None:
            return None
        if entry.rendered is None:
            entry.rendered = render(orjson.loads(entry.raw))
        return entry.rendered

    def invalidate(self, record: dict[str, Any]) -> None:
        """Live-feed listener: forget the deployment a record is about."""
        dep = record.get("deployment_id")
        if dep is None and str(record.get("subject", "")).startswith("deployment/"):
            dep = str(record["subject"]).split("/", 1)[1]
        if dep:
            with self._lock:
                self._entries.pop(str(dep), None)
                self._changed[str(dep)] = self.clock()
                if len(self._changed) > 4 * self.max_entries:
                    cutoff = self.clock() - self.settle_s
                    self._changed = {k: v for k, v in self._changed.items() if v >= cutoff}

    def warm(self, recent: int) -> int:
        """Load the ``recent`` newest deployments (bounded by the cache size), oldest first
        so the newest end up most recently used; returns how many were loaded."""
        wanted = min(recent, self.max_entries)
        ids: list[str] = []
        cursor = None
        while len(ids) < wanted:
            page = self.inner.list_deployments(limit=min(200, wanted - len(ids)), cursor=cursor)
            ids += [str(item["deployment_id"]) for item in page.items]
            cursor = page.next
            if cursor is None:
                break
        for deployment_id in reversed(ids[:wanted]):
            self.get_deployment(deployment_id)
        return len(ids[:wanted])

    def list_deployments(self, **kwargs: Any) -> Any:
        return self.inner.list_deployments(**kwargs)

    def list_audit(self, **kwargs: Any) -> Any:
        return self.inner.list_audit(**kwargs)

    def latest_model_metrics(self, model: str = "success") -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.inner.latest_model_metrics(model)
        return result
