"""confluent-kafka adapters: topic creation and the record publisher.

``KafkaPublisher`` is the Kafka side of ``api.ports.Publisher`` (the API publishes
overrides through it) and also a batch producer for the history/ingest paths:
``produce`` queues without waiting, ``flush`` waits for every delivery report and
raises if any failed, so callers can commit their input only after the effect.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic
from pydantic import BaseModel

from schemas import topics as t
from smartdeploy.settings import Settings

KafkaConf = Mapping[str, Any]

log = logging.getLogger(__name__)


def client_config(source: Settings | KafkaConf | str) -> dict[str, Any]:
    """librdkafka config from Settings, a config dict, or a bare bootstrap string.

    >>> client_config("127.0.0.1:9092")
    {'bootstrap.servers': '127.0.0.1:9092'}
    """
    if isinstance(source, Settings):
        return dict(source.kafka_config())
    if isinstance(source, str):
        return {"bootstrap.servers": source}
    return dict(source)


def ensure_topics(
    source: Settings | KafkaConf | str,
    topics: Iterable[str] = t.ALL_TOPICS,
    partitions: int | None = None,
    replication_factor: int | None = None,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet; return the ones created. Idempotent.

    Partition counts of existing topics are left alone (changing them would move
    keys between partitions and break per-app ordering).
    """
    settings = source if isinstance(source, Settings) else None
    if partitions is None:
        partitions = settings.kafka_partitions if settings else 1
    if replication_factor is None:
        replication_factor = settings.kafka_replication_factor if settings else 1
    admin = AdminClient(client_config(source))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [name for name in dict.fromkeys(topics) if name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication_factor) for name in wanted],
        operation_timeout=timeout_s,
        request_timeout=timeout_s,
    )
    created: list[str] = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def topic_ids(source: Settings | KafkaConf | str, topics: list[str]) -> dict[str, str]:
    """Kafka topic ids by name (a recreated topic gets a new id); {} where unsupported."""
    admin = AdminClient(client_config(source))
    try:
        futures = admin.describe_topics(TopicCollection(topics), request_timeout=10)
        out = {name: str(f.result(timeout=15).topic_id) for name, f in futures.items()}
    except Exception:  # noqa: BLE001 - old brokers: callers then cannot detect recreation
        log.warning("cannot describe topics %s", topics, exc_info=True)
        return {}
    return {name: tid for name, tid in out.items() if tid.strip("A=")}  # all-zero = none


class PublishError(RuntimeError):
    """At least one record was not acknowledged by the broker."""


class KafkaPublisher:
    """Keyed JSON records to Kafka; ``acks=all`` and the idempotent producer.

    Tansu accepts ``enable.idempotence`` (InitProducerId is supported), so a
    retried send is not duplicated by the broker; consumers still dedup by id.
    """

    def __init__(self, source: Settings | KafkaConf | str, **overrides: Any) -> None:
        conf = client_config(source)
        conf.setdefault("acks", "all")
        conf.setdefault("enable.idempotence", True)
        conf.setdefault("linger.ms", 5)
        conf.setdefault("compression.type", "none")
        conf.update(overrides)
        self._producer = Producer(conf)
        self._errors: list[str] = []

    def _on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self._errors.append(str(err))

    def produce(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        """Queue one message; waits only when the local queue is full."""
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every queued message; raise ``PublishError`` if any was lost."""
        remaining = self._producer.flush(timeout_s)
        errors, self._errors = self._errors, []
        if remaining:
            errors.append(f"{remaining} message(s) still queued after {timeout_s}s")
        if errors:
            raise PublishError("; ".join(errors[:5]))

    def publish(self, topic: str, key: str, record: BaseModel) -> None:
        """``api.ports.Publisher``: one record, flushed before returning."""
        self.produce(topic, key, record.model_dump_json().encode())
        self.flush()

    def close(self) -> None:
        self.flush()
