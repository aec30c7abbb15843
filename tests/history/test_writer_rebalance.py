"""Scale-out: two history writers in one consumer group, one leaving mid-stream."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from confluent_kafka import Producer

from smartdeploy.history import HistoryStore, HistoryWriter
from tests.history.factory import T0, lifecycle
from tests.history.kafka_util import consumer_conf, wait
from tests.runtime.kafka_helpers import unique

pytestmark = pytest.mark.integration


def test_two_writers_in_one_group_share_partitions_and_hand_over_without_loss(
    kafka_bootstrap: str,
    make_topics: Callable[..., list[str]],
    store: HistoryStore,
    run_writer: Callable[[HistoryWriter], HistoryWriter],
) -> None:
    [topic] = make_topics(unique("hist-scale"), partitions=2)
    group = unique("hist-g")
    first = [r for i in range(10) for r in lifecycle(f"s{i:02d}", start=T0 + timedelta(hours=i))]
    second = [r for i in range(10, 20) for r in lifecycle(f"s{i:02d}")]
    conf = consumer_conf(kafka_bootstrap, group)
    stop_a = threading.Event()
    a = HistoryWriter(store, conf, [topic], batch_size=20, flush_interval_s=0.1)
    thread_a = threading.Thread(target=a.run, args=(stop_a,), daemon=True)
    thread_a.start()
    b = run_writer(HistoryWriter(store, conf, [topic], batch_size=20, flush_interval_s=0.1))
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for r in first:  # keyed by deployment, so both partitions get records
        producer.produce(topic, key=r.deployment_id.encode(), value=r.model_dump_json().encode())  # type: ignore[attr-defined]
    assert producer.flush(30) == 0
    assert wait(lambda: a.stats.inserted + b.stats.inserted >= len(first))
    stop_a.set()  # A leaves: its partitions move to B
    thread_a.join(30)
    for r in second:
        producer.produce(topic, key=r.deployment_id.encode(), value=r.model_dump_json().encode())  # type: ignore[attr-defined]
    assert producer.flush(30) == 0
    assert wait(lambda: len(store.list_deployments(limit=100).items) == 20)
    per_deployment = len(lifecycle("x"))
    for i in range(20):
        item = store.get_deployment(f"s{i:02d}")
        assert item is not None and len(item["timeline"]) == per_deployment
