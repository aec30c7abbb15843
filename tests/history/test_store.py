"""HistoryStore on real embedded ClickHouse (chdb): idempotence, pages, filters, timeline."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import clickhouse_connect
import pytest

from schemas import (
    ActionResult,
    DeploymentFinished,
    MetricBatch,
    RollbackCommand,
    Series,
    derived_id,
)
from smartdeploy.history import HistoryRejected, HistoryStore, HistoryUnavailable
from smartdeploy.history.migrations import MIGRATIONS, migrate
from tests.history.factory import T0, lifecycle, override_and_audit, seed_deployments

TABLES = (
    "deploy_events",
    "predictions",
    "decisions",
    "kpi_windows",
    "verdicts",
    "rollbacks",
    "actions",
    "overrides",
    "audit",
    "model_metrics",
)


def _counts(store: HistoryStore, final: bool) -> dict[str, int]:
    fin = " FINAL" if final else ""
    return {t: store.query(f"SELECT count() AS n FROM {t}{fin}")[0]["n"] for t in TABLES}


def test_reinserting_the_same_batch_stores_every_record_once(store: HistoryStore) -> None:
    records = seed_deployments(store)
    before = _counts(store, final=False)
    store.insert(records)
    assert _counts(store, final=False) == before  # dropped at insert by the dedup token
    assert sum(before.values()) == len(records)


def test_redelivery_in_other_batches_never_duplicates_visible_rows(store: HistoryStore) -> None:
    records = seed_deployments(store)
    expected = _counts(store, final=True)
    summaries = store.list_deployments(limit=100).items
    rng = random.Random(7)
    for _ in range(3):
        sample = rng.sample(records, k=len(records) // 2)
        store.insert(sample[: len(sample) // 3])
        store.insert(sample[len(sample) // 3 :])
    assert _counts(store, final=True) == expected
    assert store.list_deployments(limit=100).items == summaries
    timeline = store.get_deployment("d03")["timeline"]  # type: ignore[index]
    assert len({r["id"] for r in timeline}) == len(timeline)


def test_an_older_schema_is_upgraded_by_the_pending_migrations_only(tmp_path: Path) -> None:
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'old'}")
    try:
        assert migrate(client, MIGRATIONS[:3]) == [1, 2, 3]
        assert migrate(client) == [m.version for m in MIGRATIONS[3:]]
        assert migrate(client) == []
    finally:
        client.close()


def test_partitions_are_monthly_on_event_time(store: HistoryStore) -> None:
    store.insert(lifecycle("p1", start=datetime(2026, 1, 31, 23, 59, tzinfo=UTC)))
    store.insert(lifecycle("p2", start=datetime(2026, 2, 1, 0, 0, tzinfo=UTC)))
    rows = store.query(
        "SELECT DISTINCT partition FROM system.parts "
        "WHERE database = currentDatabase() AND table = 'predictions' AND active"
    )
    assert sorted(r["partition"] for r in rows) == ["202601", "202602"]


def test_migrations_run_twice_are_noops(store: HistoryStore) -> None:
    assert store.migrate() == []
    rows = store.query("SELECT version FROM schema_migrations FINAL ORDER BY version")
    assert [r["version"] for r in rows] == [m.version for m in MIGRATIONS]


def test_rolled_back_status_needs_the_finished_event_not_only_a_command(
    store: HistoryStore,
) -> None:
    store.insert(lifecycle("x1", outcome=None, rollback=True))
    item = store.get_deployment("x1")
    assert item is not None
    assert (item["status"], item["outcome"], item["rollback_count"]) == ("started", None, 1)
    store.insert(
        [
            DeploymentFinished(
                id="fin-x1",
                occurred_at=T0 + timedelta(minutes=5),
                deployment_id="x1",
                app="web",
                outcome="rolled_back",
            )
        ]
    )
    item = store.get_deployment("x1")
    assert item is not None
    assert (item["status"], item["outcome"]) == ("rolled_back", "rolled_back")


def test_summary_has_the_port_fields(store: HistoryStore) -> None:
    store.insert(lifecycle("s1", strategy="blue_green", p_failure=0.7, outcome="failed"))
    item = store.list_deployments().items[0]
    assert item["requested_at"] == T0.isoformat()
    assert (item["app"], item["environment"], item["version"]) == ("web", "production", "2.0")
    assert (item["strategy"], item["p_failure"], item["status"]) == ("blue_green", 0.7, "failed")
    assert item["rollback_count"] == 0


def test_timeline_is_complete_and_in_event_time_order(store: HistoryStore) -> None:
    records = lifecycle("t1", rollback=True, outcome="rolled_back")
    records += override_and_audit("t1", T0 + timedelta(seconds=30))
    shuffled = list(records)
    random.Random(3).shuffle(shuffled)
    store.insert(shuffled)
    item = store.get_deployment("t1")
    assert item is not None
    timeline = item["timeline"]
    assert sorted(r["id"] for r in timeline) == sorted(r.id for r in records)  # type: ignore[attr-defined]
    times = [r["occurred_at"] for r in timeline]
    assert times == sorted(times)
    assert [r["type"] for r in timeline[:3]] == [
        "deployment.requested",
        "prediction",
        "strategy.decision",
    ]
    assert timeline[-1]["type"] == "deployment.finished"
    assert item["held"] is True


def test_unknown_deployment_is_none(store: HistoryStore) -> None:
    assert store.get_deployment("nope") is None


def test_latest_model_metrics_is_the_newest(store: HistoryStore) -> None:
    assert store.latest_model_metrics() is None
    seed_deployments(store)
    latest = store.latest_model_metrics()
    assert latest is not None and latest["n"] == 3 and latest["roc_auc"] == pytest.approx(0.63)
    assert store.latest_model_metrics("other") is None


def test_records_without_a_table_are_refused(store: HistoryStore) -> None:
    with pytest.raises(TypeError):
        store.insert([Series(name="x", timestamps_ms=[], values=[])])


def test_metric_batches_become_samples_once(store: HistoryStore) -> None:
    batch = MetricBatch(
        id="b1",
        occurred_at=T0,
        app="web",
        series=[
            Series(
                name="http_requests_total",
                labels={"code": "500"},
                deployment_id="m1",
                track="canary",
                timestamps_ms=[1, 2, 3],
                values=[1.0, None, 3.0],
            )
        ],
    )
    store.insert([batch])
    store.insert([batch, batch])
    rows = store.query("SELECT value FROM metric_samples FINAL ORDER BY ts")
    assert [r["value"] for r in rows] == [1.0, None, 3.0]


def test_retention_ttl_is_set_changed_and_removed(tmp_path) -> None:
    dsn = f"chdb://{tmp_path / 'ttl'}"

    def ddl(store: HistoryStore) -> str:
        return store.query(
            "SELECT create_table_query AS q FROM system.tables "
            "WHERE database = currentDatabase() AND name = 'kpi_windows'"
        )[0]["q"]

    for days, expect in ((30, "toIntervalDay(30)"), (45, "toIntervalDay(45)"), (0, None)):
        store = HistoryStore(dsn, ttl_days={"kpi_windows": days}).open()
        try:
            text = ddl(store)
        finally:
            store.close()
        if expect is None:
            assert "TTL" not in text
        else:
            assert expect in text


def test_one_store_serves_concurrent_readers_and_a_writer(store: HistoryStore) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(20):
                store.insert(lifecycle(f"c{i}", start=T0 + timedelta(minutes=i)))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(30):
                store.list_deployments(limit=5)
                store.get_deployment("c0")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_deployments(limit=100).items) == 20


def test_an_unreachable_server_raises_history_unavailable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = HistoryStore(f"http://127.0.0.1:{port}", connect_timeout_s=1)
    cmd = RollbackCommand(id=derived_id("u"), occurred_at=T0, deployment_id="u", app="web")
    with pytest.raises(HistoryUnavailable, match="refused"):
        store.insert([cmd])
    with pytest.raises(HistoryUnavailable, match="refused"):
        store.list_deployments()


def test_ping_reports_reachability(store: HistoryStore) -> None:
    import socket

    assert store.ping() is True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert HistoryStore(f"http://127.0.0.1:{port}", connect_timeout_s=0.5).ping() is False


def test_a_value_that_cannot_fit_its_column_is_rejected_not_unavailable(
    store: HistoryStore,
) -> None:
    bad = ActionResult(
        occurred_at=T0,
        command_id="c",
        deployment_id="d",
        app="web",
        backend="dry_run",
        status="dry_run",
        attempts=2**40,
    )
    with pytest.raises(HistoryRejected, match="attempts"):
        store.insert([bad])
