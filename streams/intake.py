"""What the worker has consumed but not yet processed.

Faust hands each agent its topic's messages; the intake parses them at once
(``Processor.prepare``, no state change), drops re-deliveries of messages it
already holds, and queues them in the event-time merge (``streams.ordering``).
A partition counts as lagging while the offset after the last message received
is below its high watermark (from the consumer's fetch responses), so the merge
waits for it only when it really has older messages to deliver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from schemas import topics as t
from streams.checkpoint import TP
from streams.ordering import EventTimeMerge
from streams.processor import InputMessage, Prepared, Processor

Highwater = Callable[[TP], int | None]

#: ticks (of ~0.1 s of free event loop) without a delivery before a partition is
#: treated as stalled rather than behind
STALL_TICKS = 20


def topic_rank(tp: object) -> int:
    """Order at equal event time: lifecycle events, then overrides, then metric batches.

    >>> topic_rank(("dev.smartdeploy.deploy.events", 0)), topic_rank(("smartdeploy.metrics", 3))
    (0, 2)
    """
    topic = str(tp[0]) if isinstance(tp, tuple) and tp else str(tp)
    for rank, logical in enumerate((t.DEPLOY_EVENTS, t.OVERRIDES, t.METRICS)):
        if topic.endswith(logical):
            return rank
    return 3


class Intake:
    """Received, parsed, not yet applied messages of the assigned input partitions.

    >>> intake = Intake(Processor(pipeline=None))
    >>> intake.assign([("in", 0)])
    >>> intake.lagging(("in", 0), highwater=None)  # nothing fetched yet: may be behind
    True
    >>> intake.started(("in", 0), 7)
    >>> intake.lagging(("in", 0), highwater=7)
    False
    """

    def __init__(self, processor: Processor, merge: EventTimeMerge[Prepared] | None = None) -> None:
        self.processor = processor
        self.merge: EventTimeMerge[Prepared] = merge or EventTimeMerge(rank=topic_rank)
        self._received: dict[TP, int] = {}
        self._start: dict[TP, int] = {}
        self._ticks = 0
        self._heard: dict[TP, int] = {}  # tick of the last arrival (or of the assignment)
        self.duplicates = 0

    def assign(self, partitions: Iterable[TP]) -> None:
        for tp in partitions:
            self.merge.watch(tp)
            self._heard[tp] = self._ticks

    def tick(self) -> None:
        """Called periodically while the event loop is free. A partition that has not
        delivered for ``STALL_TICKS`` ticks although its high watermark says it is
        behind stops holding the others back (e.g. a trailing transaction marker
        takes an offset no consumer ever receives)."""
        self._ticks += 1

    def revoke(self, partitions: Iterable[TP] | None = None) -> int:
        """Forget queued messages of revoked partitions: Kafka re-delivers them from
        the committed offset to whoever owns them next."""
        parts = None if partitions is None else {tuple(tp) for tp in partitions}
        for tp in list(self._received) + list(self._start):
            if parts is None or tp in parts:
                self._received.pop(tp, None)
                self._start.pop(tp, None)
        return self.merge.drop(parts)  # type: ignore[arg-type]

    def silent(self) -> list[TP]:
        """Watched partitions nothing was received from and whose start is unknown."""
        parts = cast(list[TP], self.merge.partitions())
        return [tp for tp in parts if tp not in self._received and tp not in self._start]

    def started(self, tp: TP, position: int) -> None:
        """The fetch position of a partition nothing was received from yet."""
        self._start[tp] = position

    def receive(self, msg: InputMessage, now: float) -> None:
        tp = (msg.topic, msg.partition)
        if msg.offset < self._received.get(tp, -1):
            self.duplicates += 1
            return
        self._received[tp] = msg.offset + 1
        self._heard[tp] = self._ticks
        prepared = self.processor.prepare(msg)
        if prepared is not None:
            self.merge.push(tp, prepared.event_ms, prepared, now)

    def lagging(self, tp: TP, highwater: int | None) -> bool:
        if highwater is None:
            return True  # not fetched yet: may hold older messages
        if highwater == 0:
            return False  # an empty partition
        if self._ticks - self._heard.get(tp, self._ticks) >= STALL_TICKS:
            return False
        nxt = self._received.get(tp, self._start.get(tp))
        return nxt is None or nxt < highwater

    def ready(self, highwater: Highwater, now: float) -> list[Prepared]:
        """Messages to apply now, in event-time order (each partition in offset order)."""
        memo: dict[TP, bool] = {}  # nothing received or fetched changes during one call

        def lagging(tp: TP) -> bool:
            if tp not in memo:
                memo[tp] = self.lagging(tp, highwater(tp))
            return memo[tp]

        return self.merge.pop_ready(lagging, now)  # type: ignore[arg-type]
