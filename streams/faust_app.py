"""Faust configuration of the worker, from the one Settings object.

Kept apart from ``streams.app`` so the lifecycle code stays short. The choices:
no web server (the API is ours), no leader topic (no Faust tables), earliest
offset for a new group (a new worker learns from the whole retained history),
``acks=all``, a 5 ms linger (batching small records is ~2x faster on Tansu), and
the group session timeout from ``kafka_session_timeout_ms`` (a join completes
after about half of it on Tansu).
"""

from __future__ import annotations

import ssl
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from smartdeploy.settings import Settings


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with a configurable fetch wait.

    Faust hard-codes ``fetch_max_wait_ms=1500``. Tansu answers a fetch only when
    that wait runs out, not when data arrives, so every hop through the worker
    would cost up to 1.5 s (measured: p50 715 ms from remote-write to rollback
    command). The wait is read from the app's ``fetch_max_wait_ms`` attribute.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = int(getattr(self.app, "fetch_max_wait_ms", 1500))
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class WorkerApp(faust.App):
    """A Faust app whose consumers use ``fetch_max_wait_ms`` (see ``_ConsumerThread``)."""

    fetch_max_wait_ms: int = 1500

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def faust_credentials(settings: Settings) -> Any:
    """Faust's form of the Kafka security settings (None for PLAINTEXT)."""
    proto = settings.kafka_security_protocol
    ctx = ssl.create_default_context() if proto.endswith("SSL") else None
    if proto.startswith("SASL"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism or "PLAIN",
            ssl_context=ctx,
        )
    return ctx


def faust_app(settings: Settings, app_id: str) -> WorkerApp:
    """A Faust app (= consumer group ``app_id``) for the configured cluster.

    >>> app = faust_app(Settings(kafka_bootstrap="h1:9092,h2:9092"), "g")
    >>> [str(u) for u in app.conf.broker], app.conf.broker_session_timeout
    (['kafka://h1:9092', 'kafka://h2:9092'], 10.0)
    """
    session_s = settings.kafka_session_timeout_ms / 1000
    hosts = (settings.kafka_bootstrap or "").split(",")
    app = WorkerApp(
        app_id,
        broker=[f"kafka://{h.strip()}" for h in hosts if h.strip()],
        broker_credentials=faust_credentials(settings),
        datadir=str((settings.data_dir / "faust").resolve()),
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=settings.kafka_replication_factor,
        broker_session_timeout=session_s,
        broker_heartbeat_interval=max(session_s / 5, 0.3),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.005,
        stream_wait_empty=False,
    )
    app.fetch_max_wait_ms = settings.kafka_fetch_max_wait_ms
    return app
