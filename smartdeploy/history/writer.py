"""History writer: every smartdeploy topic into the history store, losing nothing.

At-least-once in, exactly-once effect: offsets are committed only after the
records up to them are inserted, and inserts are idempotent, so a crash or a
re-delivery at worst repeats an insert that the store collapses.

When ClickHouse is unreachable the writer keeps its buffer, retries with
exponential backoff, and once the buffer is full pauses its partitions so the
broker (not this process's memory) holds the backlog; it resumes after a
successful insert. Undecodable messages are skipped with a logged reason (the
processors already sent them to the DLQ) and their offsets committed in order.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from pydantic import BaseModel

from schemas import parse_any
from smartdeploy.history.errors import HistoryRejected

log = logging.getLogger(__name__)


class RecordSink(Protocol):
    """Where the writer puts records (``HistoryStore`` or a test wrapper around it)."""

    def insert(self, records: list[BaseModel]) -> int: ...


@dataclass
class WriterStats:
    """Counters for logs, health and tests."""

    consumed: int = 0
    inserted: int = 0
    skipped: int = 0
    insert_failures: int = 0
    pauses: int = 0
    resumes: int = 0
    commits: int = 0
    max_buffered: int = 0
    last_error: str = ""
    skipped_reasons: list[str] = field(default_factory=list)


class HistoryWriter:
    """Consume ``topics`` and insert every record into ``store`` in batches."""

    def __init__(
        self,
        store: RecordSink,
        consumer_conf: dict[str, Any],
        topics: Sequence[str],
        *,
        batch_size: int = 1000,
        flush_interval_s: float = 1.0,
        max_buffer: int = 20_000,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 30.0,
        poll_timeout_s: float = 0.2,
        heartbeat_file: Path | None = None,
    ) -> None:
        if max_buffer < batch_size:
            raise ValueError("max_buffer must be >= batch_size")
        self.store = store
        self.topics = list(topics)
        self.conf = {
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            **consumer_conf,
        }
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.poll_timeout_s = poll_timeout_s
        self.heartbeat_file = heartbeat_file
        self.stats = WriterStats()
        self._buffer: list[tuple[str, int, BaseModel]] = []
        self._offsets: dict[tuple[str, int], int] = {}  # next offset to commit
        self._first_at: float | None = None
        self._backoff = 0.0
        self._retry_at = 0.0
        self._paused = False
        self._consumer: Any = None
        #: True once ``run`` ended with an exception (readiness checks read it).
        self.failed = False
        self._logged_at = time.monotonic()

    # -- main loop -----------------------------------------------------------------
    def run(self, stop: Event) -> None:
        """Consume until ``stop`` is set; then flush what is buffered and close."""
        consumer = Consumer(self.conf)
        self._consumer = consumer
        consumer.subscribe(self.topics, on_revoke=self._on_revoke, on_lost=self._on_lost)
        log.info("history writer consuming %s", ", ".join(self.topics))
        try:
            while not stop.is_set():
                self._step(consumer)
            self._final_flush()
        except BaseException:
            self.failed = True
            log.exception("history writer stopped on an error")
            raise
        finally:
            consumer.close()
            self._consumer = None

    @property
    def outage(self) -> bool:
        """True while inserts are failing (the backlog waits in Kafka)."""
        return self._backoff > 0.0

    def _step(self, consumer: Any) -> None:
        room = self.max_buffer - len(self._buffer)
        if self._paused and room > 0 and self._backoff == 0.0:
            self._set_paused(consumer, False)
        elif self._paused:
            consumer.pause(consumer.assignment())  # also newly assigned partitions
        want = max(1, min(self.batch_size, room))
        messages = consumer.consume(num_messages=want, timeout=self.poll_timeout_s)
        for msg in messages:
            self._accept(msg)
        if len(self._buffer) >= self.max_buffer and not self._paused:
            self._set_paused(consumer, True)
        if self._due():
            self._flush()
        self._heartbeat()
        if time.monotonic() - self._logged_at >= 60.0:
            self._logged_at = time.monotonic()
            st = self.stats
            log.info(
                "history writer: consumed=%d inserted=%d skipped=%d failures=%d buffered=%d%s",
                st.consumed,
                st.inserted,
                st.skipped,
                st.insert_failures,
                len(self._buffer),
                " (paused)" if self._paused else "",
            )

    def _accept(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("history writer: consume error: %s", err)
            return
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        assert topic is not None and partition is not None and offset is not None
        self.stats.consumed += 1
        self._offsets[(topic, partition)] = offset + 1
        if self._first_at is None:
            self._first_at = time.monotonic()
        try:
            raw = msg.value()
            if raw is None:
                raise ValueError("empty message (tombstone)")
            record = parse_any(json.loads(raw))
        except Exception as exc:  # noqa: BLE001 - any undecodable message is skipped
            self._skip(f"{topic}[{partition}]@{offset} undecodable: {exc}")
            return
        self._buffer.append((topic, partition, record))
        self.stats.max_buffered = max(self.stats.max_buffered, len(self._buffer))

    def _due(self) -> bool:
        if not self._offsets or time.monotonic() < self._retry_at:
            return False
        if len(self._buffer) >= self.batch_size:
            return True
        return self._first_at is not None and (
            time.monotonic() - self._first_at >= self.flush_interval_s
        )

    # -- flushing ------------------------------------------------------------------
    def _flush(self) -> bool:
        """Insert everything buffered, then commit; on failure keep it and back off."""
        records = [r for _, _, r in self._buffer]
        try:
            if records:
                self._insert_isolating(records)
        except Exception as exc:  # noqa: BLE001 - the store's failure modes are open-ended
            self.stats.insert_failures += 1
            self.stats.last_error = str(exc).splitlines()[0][:300] if str(exc) else repr(exc)
            self._backoff = min(self.backoff_max_s, max(self.backoff_initial_s, self._backoff * 2))
            self._retry_at = time.monotonic() + self._backoff
            log.warning(
                "history writer: insert of %d records failed (%s); retry in %.1fs",
                len(records),
                self.stats.last_error,
                self._backoff,
            )
            return False
        self.stats.inserted += len(records)
        self._buffer.clear()
        self._first_at = None
        self._backoff = 0.0
        self._retry_at = 0.0
        self._commit()
        return True

    def _insert_isolating(self, records: list[BaseModel]) -> None:
        """Insert; if the store rejects the data, bisect to skip only the bad records."""
        try:
            self.store.insert(records)
        except HistoryRejected as exc:
            if len(records) == 1:
                r = records[0]
                self._skip(f"{getattr(r, 'type', '?')} {getattr(r, 'id', '?')}: {exc}")
                return
            mid = len(records) // 2
            self._insert_isolating(records[:mid])
            self._insert_isolating(records[mid:])

    def _skip(self, reason: str) -> None:
        reason = reason.splitlines()[0][:300]
        log.warning("history writer: skipping message %s", reason)
        self.stats.skipped += 1
        self.stats.skipped_reasons = [*self.stats.skipped_reasons[-99:], reason]

    def _commit(self) -> None:
        if not self._offsets or self._consumer is None:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._offsets.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
            self.stats.commits += 1
        except Exception as exc:  # noqa: BLE001 - e.g. rebalance in progress
            # Inserted but not committed: the records come again and are collapsed.
            log.warning("history writer: commit failed (%s); records may be re-read", exc)
        self._offsets.clear()

    def _final_flush(self, attempts: int = 3) -> None:
        for _ in range(attempts):
            if not self._offsets or self._flush():
                return
            time.sleep(min(self._backoff, 1.0))
        log.warning(
            "history writer: stopping with %d uncommitted records; they will be re-read",
            len(self._buffer),
        )

    def _set_paused(self, consumer: Any, paused: bool) -> None:
        assignment = consumer.assignment()
        if paused:
            consumer.pause(assignment)
            self.stats.pauses += 1
            log.warning("history writer: buffer full (%d); pausing consumption", len(self._buffer))
        else:
            consumer.resume(assignment)
            self.stats.resumes += 1
            log.info("history writer: resuming consumption")
        self._paused = paused

    # -- rebalance -----------------------------------------------------------------
    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Flush once before giving partitions away; otherwise forget their records
        (not committed, so their new owner reads them again)."""
        if self._offsets and self._flush():
            return
        self._forget({(tp.topic, tp.partition) for tp in partitions})

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._forget({(tp.topic, tp.partition) for tp in partitions})

    def _forget(self, lost: set[tuple[str, int]]) -> None:
        self._buffer = [b for b in self._buffer if (b[0], b[1]) not in lost]
        for key in lost:
            self._offsets.pop(key, None)
        if not self._buffer:
            self._first_at = None

    def _heartbeat(self) -> None:
        if self.heartbeat_file is not None:
            self.heartbeat_file.parent.mkdir(parents=True, exist_ok=True)
            self.heartbeat_file.touch()
