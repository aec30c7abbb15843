"""The Kafka shell around ``Executor``: at-least-once in, exactly-once in effect.

Per batch of ``smartdeploy.rollbacks`` messages: catch up on overrides, run each
command through ``Executor.handle`` (which records it in the ledger), publish its
ActionResult and AuditRecord, flush (every delivery acknowledged), and only then
commit the consumer offsets. A crash anywhere before the commit re-delivers the
batch; the ledger and the target checks turn the re-delivery into no new effect.

Overrides are read by a second, group-less consumer assigned to every partition
from the beginning: the hold/force state is rebuilt after a restart, and before a
batch executes the reader catches up to the overrides' high watermarks, so a hold
published before a command was picked up is honoured whatever the topic order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from pydantic import ValidationError

from executor.config import ExecutorConfig
from executor.core import Executor
from schemas.commands import Override, RollbackCommand

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """A result was not acknowledged by the broker; the batch is not committed."""


class OverrideReader:
    """Follows the overrides topic from the beginning, without a consumer group."""

    def __init__(self, cfg: ExecutorConfig):
        self.topic = cfg.overrides_topic
        self.consumer = Consumer(
            {
                **cfg.kafka,
                "group.id": f"{cfg.group_id}-overrides",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        # watermarks come from a client that never fetches: on the following consumer a
        # ListOffsets request queues behind its long-poll fetches (~fetch.wait.max.ms)
        self.meta = Consumer(
            {**cfg.kafka, "group.id": f"{cfg.group_id}-overrides", "enable.auto.commit": False}
        )
        self.partitions: list[int] = []
        self._next_try = 0.0

    def _ensure_assigned(self) -> bool:
        if self.partitions:
            return True
        if time.monotonic() < self._next_try:
            return False
        self._next_try = time.monotonic() + 2.0
        meta = self.consumer.list_topics(self.topic, timeout=5)
        info = meta.topics.get(self.topic)
        if info is None or info.error is not None or not info.partitions:
            return False
        self.partitions = sorted(info.partitions)
        self.consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self.partitions]
        )
        return True

    def _apply(self, msgs: list[Message], executor: Executor) -> None:
        for msg in msgs:
            if msg.error() is not None:
                continue
            try:
                executor.apply_override(Override.model_validate_json(msg.value() or b""))
            except ValidationError as exc:
                log.warning("ignoring invalid override at offset %s: %s", msg.offset(), exc)

    def drain(self, executor: Executor) -> None:
        """Apply whatever overrides are already fetched (non-blocking)."""
        if self._ensure_assigned():
            self._apply(self.consumer.consume(500, 0), executor)

    def catch_up(self, executor: Executor, timeout_s: float = 5.0) -> None:
        """Apply overrides until every partition's position reaches its high watermark."""
        if not self._ensure_assigned():
            return
        deadline = time.monotonic() + timeout_s
        tps = [TopicPartition(self.topic, p) for p in self.partitions]
        highs = {
            tp.partition: self.meta.get_watermark_offsets(tp, timeout=5, cached=False) for tp in tps
        }
        while time.monotonic() < deadline:
            positions = {tp.partition: tp.offset for tp in self.consumer.position(tps)}
            behind = [
                p for p, (low, high) in highs.items() if high > low and positions.get(p, -1) < high
            ]
            if not behind:
                return
            self._apply(self.consumer.consume(500, 0.1), executor)
        log.warning("overrides not caught up within %.1fs; proceeding", timeout_s)

    def close(self) -> None:
        self.consumer.close()
        self.meta.close()


class ExecutorLoop:
    """Consumes rollback commands and publishes what was done; ``run`` blocks."""

    def __init__(
        self,
        cfg: ExecutorConfig,
        executor: Executor,
        after_effect: Callable[[RollbackCommand], None] | None = None,
    ):
        self.cfg = cfg
        self.executor = executor
        self.after_effect = after_effect  # test hook: runs after the effect, before publishing
        self.processed = 0
        self._delivery_errors: list[str] = []

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._delivery_errors.append(str(err))

    def _consumer(self) -> Consumer:
        consumer = Consumer(
            {
                **self.cfg.kafka,
                "group.id": self.cfg.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": self.cfg.session_timeout_ms,
                # rollbacks are rare and urgent: do not let the broker park fetches 500 ms
                "fetch.wait.max.ms": 20,
            }
        )
        consumer.subscribe([self.cfg.rollbacks_topic])
        return consumer

    def _producer(self) -> Producer:
        conf: dict[str, Any] = {"acks": "all", "enable.idempotence": True, "linger.ms": 2}
        conf.update(self.cfg.kafka)
        return Producer(conf)

    def run(self, stop: threading.Event) -> None:
        """Process commands until ``stop`` is set; commits only after effects are published."""
        log.info(
            "executor: backend %s, %s -> %s (group %s)",
            self.executor.backend.name,
            self.cfg.rollbacks_topic,
            self.cfg.actions_topic,
            self.cfg.group_id,
        )
        consumer = self._consumer()
        overrides = OverrideReader(self.cfg)
        producer = self._producer()
        try:
            while not stop.is_set():
                overrides.drain(self.executor)
                msgs = [m for m in _next_batch(consumer, self.cfg) if _usable(m)]
                if not msgs:
                    continue
                overrides.catch_up(self.executor)
                try:
                    self._process(msgs, producer)
                    consumer.commit(asynchronous=False)
                except (PublishError, KafkaException) as exc:
                    log.error("batch not committed, will be re-processed: %s", exc)
                    _rewind(consumer, msgs)
                    stop.wait(1.0)
        finally:
            producer.flush(10)
            consumer.close()
            overrides.close()

    def _process(self, msgs: list[Message], producer: Producer) -> None:
        for msg in msgs:
            try:
                command = RollbackCommand.model_validate_json(msg.value() or b"")
            except ValidationError as exc:
                log.error(
                    "invalid rollback command at %s/%s: %s", msg.partition(), msg.offset(), exc
                )
                producer.produce(
                    self.cfg.dlq_topic,
                    value=msg.value(),
                    key=msg.key(),
                    headers={"error": str(exc)[:1000], "source": self.cfg.rollbacks_topic},
                    on_delivery=self._on_delivery,
                )
                continue
            handled = self.executor.handle(command)
            log.info(
                "command %s (%s) -> %s%s: %s",
                command.id,
                command.deployment_id,
                handled.result.status,
                " (replayed)" if handled.replayed else "",
                handled.result.detail,
            )
            if self.after_effect is not None:
                self.after_effect(command)
            producer.produce(
                self.cfg.actions_topic,
                key=command.app,
                value=handled.result.model_dump_json(),
                on_delivery=self._on_delivery,
            )
            producer.produce(
                self.cfg.audit_topic,
                key=command.deployment_id,
                value=handled.audit.model_dump_json(),
                on_delivery=self._on_delivery,
            )
            self.processed += 1
        self.executor.ledger.sync()
        remaining = producer.flush(30)
        failed, self._delivery_errors = self._delivery_errors, []
        if remaining or failed:
            raise PublishError(f"{remaining} unsent, errors: {failed[:3]}")


def _next_batch(consumer: Consumer, cfg: ExecutorConfig) -> list[Message]:
    """Wait for one message, then take what is already fetched (latency over batching).

    ``consume(n, timeout)`` would wait the whole timeout for ``n`` messages.
    """
    first = consumer.poll(cfg.poll_timeout_s)
    if first is None:
        return []
    return [first, *consumer.consume(cfg.batch_size - 1, 0)] if cfg.batch_size > 1 else [first]


def _usable(msg: Message) -> bool:
    err = msg.error()
    if err is None:
        return True
    if err.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer error: %s", err)
    return False


def _rewind(consumer: Consumer, msgs: list[Message]) -> None:
    """Seek every partition of an uncommitted batch back to its first message."""
    first: dict[tuple[str, int], int] = {}
    for msg in msgs:
        key = (str(msg.topic()), int(msg.partition() or 0))
        offset = int(msg.offset() or 0)
        first[key] = min(first.get(key, offset), offset)
    for (topic, partition), offset in first.items():
        try:
            consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as exc:
            log.warning("seek %s/%s failed: %s", topic, partition, exc)
