"""Event-time merge of the input partitions (deploy events, metric batches, overrides).

Why: the guard needs a deployment's ``deployment.started`` before its canary
metrics, but those travel on different topics, consumed concurrently. Live, with
every partition caught up, arrival order is event order and nothing waits. When
the worker catches up on a backlog (after a restart, or a recorded stream
published at once) one topic can run hours ahead of another, and metrics would
reach the guard before the deployment they belong to: replay and live decisions
would differ. So, like Kafka Streams' stream-time synchronisation, the worker
buffers what it consumed and releases, among the heads of the per-partition
queues, the one with the smallest event time -- but only while no partition that
still has a backlog has an empty queue (its next message might be older). Each
partition's own order (offset order) is never changed, so checkpoint positions
stay contiguous. Bounded: a head that waited ``max_wait_s`` or a buffer over
``max_items`` is released anyway.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
Key = Hashable


@dataclass(frozen=True)
class _Entry(Generic[T]):
    event_ms: int
    seq: int
    arrived: float
    item: T


class EventTimeMerge(Generic[T]):
    """Per-partition FIFO queues, released in event-time order across partitions.

    >>> m: EventTimeMerge[str] = EventTimeMerge()
    >>> m.push("metrics", 300, "batch@300", now=0.0)
    >>> m.push("events", 100, "started@100", now=0.0)
    >>> m.pop_ready(lagging=lambda p: p == "events", now=0.0)
    ['started@100']
    >>> m.pop_ready(lagging=lambda p: p == "events", now=0.0)  # events may hold older ones
    []
    >>> m.pop_ready(lagging=lambda p: False, now=0.0)  # events caught up
    ['batch@300']
    >>> tie: EventTimeMerge[str] = EventTimeMerge(rank=lambda p: 0 if p == "events" else 1)
    >>> tie.push("metrics", 100, "batch@100", now=0.0)
    >>> tie.push("events", 100, "started@100", now=0.0)
    >>> tie.pop_ready(lagging=lambda p: False, now=0.0)
    ['started@100', 'batch@100']
    """

    def __init__(
        self,
        max_wait_s: float = 30.0,
        max_items: int = 5_000,
        rank: Callable[[Key], int] | None = None,
    ) -> None:
        #: Tie-break at equal event time: lower rank first (deploy events before the
        #: metrics sampled at the same instant, as a recorded stream lists them).
        self.rank = rank or (lambda _p: 0)
        self.max_wait_s = max_wait_s
        self.max_items = max_items
        self._queues: dict[Key, deque[_Entry[T]]] = {}
        self._seq = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, partition: Key, event_ms: int, item: T, now: float) -> None:
        """Queue ``item`` behind everything consumed earlier from ``partition``."""
        self._seq += 1
        self._queues.setdefault(partition, deque()).append(_Entry(event_ms, self._seq, now, item))
        self._size += 1

    def pop_ready(self, lagging: Callable[[Key], bool], now: float) -> list[T]:
        """Every item that can go now, in release order.

        ``lagging(p)`` is true for a partition that still has unread messages in
        Kafka; if its queue is empty, the next head could be older than ours, so we
        wait (unless the head has waited ``max_wait_s`` or the buffer is too big).
        """
        out: list[T] = []
        while self._size:
            part, head = min(
                ((p, q[0]) for p, q in self._queues.items() if q),
                key=lambda pair: (pair[1].event_ms, self.rank(pair[0]), pair[1].seq),
            )
            forced = now - head.arrived >= self.max_wait_s or self._size > self.max_items
            if not forced and any(
                not q and lagging(p) for p, q in self._queues.items() if p != part
            ):
                break
            self._queues[part].popleft()
            self._size -= 1
            out.append(head.item)
        return out

    def watch(self, partition: Key) -> None:
        """Make an (as yet silent) partition count when deciding whether to wait."""
        self._queues.setdefault(partition, deque())

    def partitions(self) -> list[Key]:
        return list(self._queues)

    def drop(self, partitions: set[Key] | None = None) -> int:
        """Forget queued items (of revoked partitions, or all); returns how many."""
        dropped = 0
        for p in list(self._queues):
            if partitions is None or p in partitions:
                dropped += len(self._queues.pop(p))
        self._size -= dropped
        return dropped
