"""HistoryStore on real embedded ClickHouse (chdb): idempotence, pages, filters, timeline."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest

from schemas import DeploymentFinished, MetricBatch, RollbackCommand, Series, derived_id
from smartdeploy.history import HistoryStore, HistoryUnavailable
from smartdeploy.history.migrations import MIGRATIONS
from tests.history.factory import T0, lifecycle, model_metrics, override_and_audit

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


def _seed(store: HistoryStore) -> list:
    records = []
    for i in range(12):
        records += lifecycle(
            f"d{i:02d}",
            app=("web", "api", "jobs")[i % 3],
            env="staging" if i % 4 == 0 else "production",
            start=T0 + timedelta(minutes=10 * i),
            outcome=(None, "succeeded", "failed", "rolled_back")[i % 4],
            rollback=i % 4 == 3,
            p_failure=i / 20,
        )
    records += override_and_audit("d03", T0 + timedelta(minutes=31))
    records += [model_metrics(n, T0 + timedelta(hours=n), 0.6 + n / 100) for n in range(1, 4)]
    store.insert(records)
    return records


def test_reinserting_the_same_batch_stores_every_record_once(store: HistoryStore) -> None:
    records = _seed(store)
    before = _counts(store, final=False)
    store.insert(records)
    assert _counts(store, final=False) == before  # dropped at insert by the dedup token
    assert sum(before.values()) == len(records)


def test_redelivery_in_other_batches_never_duplicates_visible_rows(store: HistoryStore) -> None:
    records = _seed(store)
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


def test_migrations_run_twice_are_noops(store: HistoryStore) -> None:
    assert store.migrate() == []
    rows = store.query("SELECT version FROM schema_migrations FINAL ORDER BY version")
    assert [r["version"] for r in rows] == [m.version for m in MIGRATIONS]


def test_deployments_page_newest_request_first_and_cursor_visits_each_once(
    store: HistoryStore,
) -> None:
    _seed(store)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.list_deployments(limit=5, cursor=cursor)
        seen += [i["deployment_id"] for i in page.items]
        pages += 1
        if page.next is None:
            break
        cursor = page.next
    assert pages == 3
    assert seen == [f"d{i:02d}" for i in reversed(range(12))]


def test_filters_by_app_environment_and_outcome(store: HistoryStore) -> None:
    _seed(store)
    web = store.list_deployments(app="web", limit=100).items
    assert {i["deployment_id"] for i in web} == {f"d{i:02d}" for i in range(0, 12, 3)}
    staging = store.list_deployments(environment="staging", limit=100).items
    assert {i["deployment_id"] for i in staging} == {"d00", "d04", "d08"}
    rolled = store.list_deployments(outcome="rolled_back", limit=100).items
    assert [i["deployment_id"] for i in rolled] == ["d11", "d07", "d03"]
    assert all(i["rollback_count"] == 1 for i in rolled)
    started = store.list_deployments(outcome="started", app="api", limit=100).items
    assert [i["deployment_id"] for i in started] == ["d04"]  # no finished event yet


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


def test_audit_filters_and_pages_newest_first(store: HistoryStore) -> None:
    for i in range(7):
        store.insert(
            override_and_audit(
                f"a{i}", T0 + timedelta(minutes=i), actor="bob" if i % 2 else "alice"
            )
        )
    first = store.list_audit(limit=3)
    assert [r["subject"] for r in first.items] == [
        "deployment:a6",
        "deployment:a5",
        "deployment:a4",
    ]
    rest = store.list_audit(limit=10, cursor=first.next)
    assert len(rest.items) == 4 and rest.next is None
    assert {r["actor"] for r in store.list_audit(actor="bob").items} == {"bob"}
    assert len(store.list_audit(subject="deployment:a2").items) == 1


def test_latest_model_metrics_is_the_newest(store: HistoryStore) -> None:
    assert store.latest_model_metrics() is None
    _seed(store)
    latest = store.latest_model_metrics()
    assert latest is not None and latest["n"] == 3 and latest["roc_auc"] == pytest.approx(0.63)
    assert store.latest_model_metrics("other") is None


def test_a_malformed_cursor_is_a_value_error(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="cursor"):
        store.list_deployments(cursor="not-a-cursor")


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
    with pytest.raises(HistoryUnavailable):
        store.insert([cmd])
    with pytest.raises(HistoryUnavailable):
        store.list_deployments()
