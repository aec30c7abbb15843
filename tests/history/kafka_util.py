"""Kafka helpers for the history writer tests (real session broker, real chdb)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from pydantic import BaseModel

from smartdeploy.history import HistoryStore, HistoryUnavailable
from tests.runtime.kafka_helpers import SESSION_TIMEOUT_MS


class FlakyStore:
    """Wraps the real store; raises like an unreachable ClickHouse while ``down`` is set."""

    def __init__(self, inner: HistoryStore) -> None:
        self.inner = inner
        self.down = threading.Event()
        self.failed_calls = 0

    def insert(self, records: list[BaseModel]) -> int:
        if self.down.is_set():
            self.failed_calls += 1
            raise HistoryUnavailable("clickhouse: connection refused (test outage)")
        return self.inner.insert(records)


def produce(bootstrap: str, topic: str, records: list[BaseModel] | list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for r in records:
        value = r if isinstance(r, bytes) else r.model_dump_json().encode()
        producer.produce(topic, value=value)
    assert producer.flush(30) == 0


def committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        [tp] = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return tp.offset
    finally:
        consumer.close()


def wait(cond: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def consumer_conf(bootstrap: str, group: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
    }
