"""Shared pieces of the worker integration tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import BaseModel

from schemas import topics as t
from smartdeploy.kafka_io import KafkaPublisher, ensure_topics
from smartdeploy.settings import Settings
from tests.runtime.kafka_helpers import SESSION_TIMEOUT_MS


def worker_settings(bootstrap: str, data_dir: Path, every: int = 500) -> Settings:
    """Settings of a worker isolated by a unique topic prefix on the shared broker."""
    return Settings(
        kafka_bootstrap=bootstrap,
        kafka_topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        data_dir=data_dir,
        model_checkpoint_every=every,
        kafka_session_timeout_ms=SESSION_TIMEOUT_MS,
        kafka_partitions=2,
    )


def publish(
    settings: Settings,
    items: Iterable[tuple[str, BaseModel | bytes]],
    topic: str = t.DEPLOY_EVENTS,
) -> None:
    """Put (key, record-or-raw-bytes) on a prefixed input topic, in order."""
    prefixed = [settings.kafka_topic_prefix + name for name in t.ALL_TOPICS]
    ensure_topics(settings, prefixed, settings.kafka_partitions)
    pub = KafkaPublisher(settings)
    topic = settings.kafka_topic_prefix + topic
    for key, item in items:
        value = item if isinstance(item, bytes) else item.model_dump_json().encode()
        pub.produce(topic, key, value)
    pub.flush()


async def eventually(check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Poll until ``check()`` holds; fail with a clear message at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout_s}s")
        await asyncio.sleep(0.1)
