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

from smartdeploy.settings import Settings


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


def faust_app(settings: Settings, app_id: str) -> faust.App:
    """A Faust app (= consumer group ``app_id``) for the configured cluster.

    >>> app = faust_app(Settings(kafka_bootstrap="h1:9092,h2:9092"), "g")
    >>> [str(u) for u in app.conf.broker], app.conf.broker_session_timeout
    (['kafka://h1:9092', 'kafka://h2:9092'], 10.0)
    """
    session_s = settings.kafka_session_timeout_ms / 1000
    hosts = (settings.kafka_bootstrap or "").split(",")
    return faust.App(
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
