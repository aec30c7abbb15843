"""The embedded broker speaks enough Kafka for every smartdeploy process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from smartdeploy.broker import EmbeddedBroker, broker_ready, with_embedded_broker
from smartdeploy.kafka_io import KafkaPublisher, ensure_topics
from smartdeploy.settings import Settings
from tests.runtime.kafka_helpers import SESSION_TIMEOUT_MS, read_topic, unique

pytestmark = pytest.mark.integration


def test_produced_records_are_consumed_by_a_group_and_offsets_commit(kafka_bootstrap: str) -> None:
    topic, group = unique("grp"), unique("g")
    ensure_topics(kafka_bootstrap, [topic], partitions=2)
    pub = KafkaPublisher(kafka_bootstrap)
    for i in range(20):
        pub.produce(topic, f"app{i % 3}", f"v{i}".encode())
    pub.flush()
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": SESSION_TIMEOUT_MS,
        }
    )
    consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 60
    while len(got) < 20 and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and msg.error() is None:
            got.append(msg.value() or b"")
    consumer.commit(asynchronous=False)
    committed = consumer.committed(consumer.assignment(), timeout=10)
    consumer.close()
    assert sorted(got) == sorted(f"v{i}".encode() for i in range(20))
    assert sum(tp.offset for tp in committed if tp.offset >= 0) == 20


def test_ensure_topics_is_idempotent(kafka_bootstrap: str) -> None:
    topic = unique("idem")
    assert ensure_topics(kafka_bootstrap, [topic, topic], partitions=3) == [topic]
    assert ensure_topics(kafka_bootstrap, [topic], partitions=3) == []


def test_publish_keys_records_by_app_and_writes_json(kafka_bootstrap: str) -> None:
    from schemas import Override

    topic = unique("pub")
    ensure_topics(kafka_bootstrap, [topic])
    record = Override(
        occurred_at="2026-01-01T00:00:00Z",
        deployment_id="d1",
        app="web",
        action="hold",
        reason="investigating",
        actor="alice",
    )
    KafkaPublisher(kafka_bootstrap).publish(topic, "web", record)
    (msg,) = read_topic(kafka_bootstrap, topic, 1)
    assert msg.key() == b"web"
    assert Override.model_validate_json(msg.value() or b"") == record


def test_broker_stops_and_frees_its_port() -> None:
    broker = EmbeddedBroker().start()
    pid = broker.pid
    assert broker_ready(broker.bootstrap)
    broker.stop()
    assert not broker_ready(broker.bootstrap, timeout_s=0.5)
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_broker_dies_with_a_killed_parent() -> None:
    """A SIGKILLed parent leaves no orphan broker (PR_SET_PDEATHSIG)."""
    code = (
        "from smartdeploy.broker import EmbeddedBroker;import sys,time;"
        "b=EmbeddedBroker().start();print(b.pid, b.bootstrap, flush=True);time.sleep(600)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid_s, bootstrap = parent.stdout.readline().split()
    assert broker_ready(bootstrap)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    alive = True
    while alive and time.monotonic() < deadline:
        try:
            os.kill(int(pid_s), 0)
            # a zombie still answers kill(0); its state letter tells
            with open(f"/proc/{pid_s}/stat") as fh:
                alive = fh.read().split(") ", 1)[1][0] != "Z"
        except (ProcessLookupError, FileNotFoundError):
            alive = False
        time.sleep(0.1)
    assert not alive


def test_up_starts_an_embedded_broker_only_without_configured_kafka(tmp_path: Path) -> None:
    configured = Settings(kafka_bootstrap="10.0.0.1:9092", data_dir=tmp_path)
    assert with_embedded_broker(configured) == (None, configured)
    broker, settings = with_embedded_broker(Settings(data_dir=tmp_path))
    assert broker is not None
    try:
        assert settings.kafka_bootstrap == broker.bootstrap
        assert broker_ready(broker.bootstrap)
    finally:
        broker.stop()
