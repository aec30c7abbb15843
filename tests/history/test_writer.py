"""HistoryWriter against the real session broker (Tansu) and real chdb.

The outage tests make the store unavailable (a wrapper that raises, or a
ClickHouse URL on a closed port) and check that consumption pauses, offsets stay
uncommitted, and every record arrives exactly once after recovery.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from schemas import ActionResult
from smartdeploy.history import HistoryStore, HistoryWriter
from tests.history.factory import T0, lifecycle, override_and_audit
from tests.history.kafka_util import FlakyStore, committed, consumer_conf, produce, wait
from tests.runtime.kafka_helpers import unique

pytestmark = pytest.mark.integration


def test_writer_stores_every_record_of_every_topic_and_commits(
    tmp_path: Path,
    kafka_bootstrap: str,
    make_topics: Callable[..., list[str]],
    store: HistoryStore,
    run_writer: Callable[[HistoryWriter], HistoryWriter],
) -> None:
    events, outputs = make_topics(unique("hist-ev"), unique("hist-out"))
    records = [
        r
        for i in range(5)
        for r in lifecycle(
            f"w{i}", rollback=i == 2, outcome="rolled_back" if i == 2 else "succeeded"
        )
    ]
    records += override_and_audit("w2", T0 + timedelta(seconds=30))
    deploy = [r for r in records if getattr(r, "type", "").startswith("deployment.")]
    other = [r for r in records if r not in deploy]
    produce(kafka_bootstrap, events, deploy)
    produce(kafka_bootstrap, outputs, other)
    group = unique("hist-g")
    heartbeat = tmp_path / "alive" / "history.alive"
    writer = run_writer(
        HistoryWriter(
            store,
            consumer_conf(kafka_bootstrap, group),
            [events, outputs],
            batch_size=50,
            flush_interval_s=0.2,
            heartbeat_file=heartbeat,
        )
    )
    assert wait(lambda: writer.stats.inserted >= len(records))
    assert wait(lambda: committed(kafka_bootstrap, group, events) == len(deploy))
    assert len(store.list_deployments(limit=50).items) == 5
    item = store.get_deployment("w2")
    assert item is not None and item["status"] == "rolled_back" and item["rollback_count"] == 1
    assert len(item["timeline"]) == len(lifecycle("w2", rollback=True)) + 2
    assert heartbeat.exists() and not writer.outage and not writer.failed


def test_outage_pauses_consumption_keeps_offsets_and_loses_nothing(
    kafka_bootstrap: str,
    make_topics: Callable[..., list[str]],
    store: HistoryStore,
    run_writer: Callable[[HistoryWriter], HistoryWriter],
) -> None:
    [topic] = make_topics(unique("hist-outage"))
    flaky = FlakyStore(store)
    flaky.down.set()
    records = [
        r for i in range(40) for r in lifecycle(f"o{i:02d}", start=T0 + timedelta(minutes=i))
    ]
    group = unique("hist-g")
    writer = run_writer(
        HistoryWriter(
            flaky,
            consumer_conf(kafka_bootstrap, group),
            [topic],
            batch_size=25,
            flush_interval_s=0.1,
            max_buffer=100,
            backoff_initial_s=0.05,
            backoff_max_s=0.3,
        )
    )
    produce(kafka_bootstrap, topic, records)
    assert wait(lambda: writer.stats.pauses >= 1 and flaky.failed_calls >= 3)
    consumed_while_paused = writer.stats.consumed
    time.sleep(1.0)  # paused: the broker, not the writer, holds the backlog
    assert writer.stats.consumed == consumed_while_paused
    assert writer.stats.max_buffered <= 100
    assert committed(kafka_bootstrap, group, topic) < 0  # nothing committed during outage
    assert store.query("SELECT count() AS n FROM deploy_events")[0]["n"] == 0

    flaky.down.clear()
    assert wait(lambda: writer.stats.inserted >= len(records))
    assert writer.stats.resumes >= 1
    assert wait(lambda: committed(kafka_bootstrap, group, topic) == len(records))
    per_deployment = len(lifecycle("x"))
    assert len(store.list_deployments(limit=100).items) == 40
    timelines = [store.get_deployment(f"o{i:02d}") for i in range(40)]
    assert all(t is not None and len(t["timeline"]) == per_deployment for t in timelines)
    tables = ("deploy_events", "predictions", "decisions", "kpi_windows", "verdicts")
    stored = sum(store.query(f"SELECT count() AS n FROM {t} FINAL")[0]["n"] for t in tables)
    assert stored == len(records)  # every record once: none lost, none duplicated


def test_undecodable_messages_are_skipped_and_committed_in_order(
    kafka_bootstrap: str,
    make_topics: Callable[..., list[str]],
    store: HistoryStore,
    run_writer: Callable[[HistoryWriter], HistoryWriter],
) -> None:
    [topic] = make_topics(unique("hist-bad"))
    good = lifecycle("g1")
    produce(
        kafka_bootstrap,
        topic,
        [b"{not json", *[r.model_dump_json().encode() for r in good], b'{"type": "nope"}'],
    )
    group = unique("hist-g")
    writer = run_writer(
        HistoryWriter(
            store,
            consumer_conf(kafka_bootstrap, group),
            [topic],
            batch_size=10,
            flush_interval_s=0.1,
        )
    )
    assert wait(lambda: committed(kafka_bootstrap, group, topic) == len(good) + 2)
    assert writer.stats.skipped == 2
    assert "nope" in writer.stats.skipped_reasons[-1]
    item = store.get_deployment("g1")
    assert item is not None and len(item["timeline"]) == len(good)


def test_a_record_the_store_rejects_is_skipped_alone_and_the_rest_stored(
    kafka_bootstrap: str,
    make_topics: Callable[..., list[str]],
    store: HistoryStore,
    run_writer: Callable[[HistoryWriter], HistoryWriter],
) -> None:
    [topic] = make_topics(unique("hist-poison"))
    good = lifecycle("k1", rollback=True)
    poison = ActionResult(
        id="poison",
        occurred_at=T0,
        command_id="c",
        deployment_id="k1",
        app="web",
        backend="dry_run",
        status="dry_run",
        attempts=2**40,
    )
    batch = [*good[:5], poison, *good[5:]]
    produce(kafka_bootstrap, topic, batch)
    group = unique("hist-g")
    writer = run_writer(
        HistoryWriter(
            store,
            consumer_conf(kafka_bootstrap, group),
            [topic],
            batch_size=50,
            flush_interval_s=0.2,
        )
    )
    assert wait(lambda: committed(kafka_bootstrap, group, topic) == len(batch))
    assert writer.stats.skipped == 1 and "poison" in writer.stats.skipped_reasons[0]
    item = store.get_deployment("k1")
    assert item is not None
    assert sorted(r["id"] for r in item["timeline"]) == sorted(r.id for r in good)  # type: ignore[attr-defined]


def test_a_closed_clickhouse_port_is_retried_without_committing(
    kafka_bootstrap: str,
    make_topics: Callable[..., list[str]],
    run_writer: Callable[[HistoryWriter], HistoryWriter],
) -> None:
    [topic] = make_topics(unique("hist-http"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = HistoryStore(f"http://127.0.0.1:{port}", connect_timeout_s=0.5)
    group = unique("hist-g")
    produce(kafka_bootstrap, topic, lifecycle("h1"))
    writer = run_writer(
        HistoryWriter(
            store,
            consumer_conf(kafka_bootstrap, group),
            [topic],
            batch_size=5,
            flush_interval_s=0.1,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        )
    )
    assert wait(lambda: writer.stats.insert_failures >= 3)
    assert "cannot open" in writer.stats.last_error
    assert committed(kafka_bootstrap, group, topic) < 0
    assert writer.stats.inserted == 0
