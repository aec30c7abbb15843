"""Test helpers for the shared broker: unique names, topic creation, reading a topic.

Import from here in any area's integration tests, e.g.
``from tests.runtime.kafka_helpers import create_topics, read_topic, unique``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, Message, TopicPartition

from smartdeploy.kafka_io import ensure_topics

#: Group timeouts for tests: a group join completes after ~half of this on Tansu.
SESSION_TIMEOUT_MS = 6000


def unique(prefix: str = "t") -> str:
    """A fresh topic / group name, so tests sharing one broker never collide."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topics(bootstrap: str, topics: Iterable[str], partitions: int = 1) -> list[str]:
    """Create topics (idempotent) with the AdminClient; returns the names."""
    names = list(topics)
    ensure_topics(bootstrap, names, partitions=partitions)
    return names


def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[Message]], bool] | int = 1,
    timeout_s: float = 30.0,
) -> list[Message]:
    """Every message of ``topic`` from the beginning, without a consumer group.

    Reads by partition assignment (no group join, so no rebalance wait) until
    ``until(messages)`` is true (or that many messages arrived) or the deadline.
    """
    want = (lambda msgs: len(msgs) >= until) if isinstance(until, int) else until
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("reader"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10)
        parts = meta.topics[topic].partitions if topic in meta.topics else {}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        msgs: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while not want(msgs) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                msgs.append(msg)
        return msgs
    finally:
        consumer.close()
