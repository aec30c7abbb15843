"""Listing deployments and audit records: order, keyset cursors, filters, time windows."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from schemas import DeploymentFinished
from smartdeploy.history import HistoryStore
from tests.history.factory import T0, lifecycle, override_and_audit, seed_deployments


def test_deployments_page_newest_request_first_and_cursor_visits_each_once(
    store: HistoryStore,
) -> None:
    seed_deployments(store)
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
    seed_deployments(store)
    web = store.list_deployments(app="web", limit=100).items
    assert {i["deployment_id"] for i in web} == {f"d{i:02d}" for i in range(0, 12, 3)}
    staging = store.list_deployments(environment="staging", limit=100).items
    assert {i["deployment_id"] for i in staging} == {"d00", "d04", "d08"}
    rolled = store.list_deployments(outcome="rolled_back", limit=100).items
    assert [i["deployment_id"] for i in rolled] == ["d11", "d07", "d03"]
    assert all(i["rollback_count"] == 1 for i in rolled)
    started = store.list_deployments(outcome="started", app="api", limit=100).items
    assert [i["deployment_id"] for i in started] == ["d04"]  # no finished event yet


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


def test_a_malformed_cursor_is_a_value_error(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="cursor"):
        store.list_deployments(cursor="not-a-cursor")


def _all_pages(store: HistoryStore, limit: int, **filters: str) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_deployments(limit=limit, cursor=cursor, **filters)
        seen += [i["deployment_id"] for i in page.items]
        if page.next is None:
            return seen
        cursor = page.next


def test_windowed_listing_equals_a_full_scan_over_years_of_history(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(11)
    records = []
    start = T0
    for i in range(80):
        start += timedelta(hours=rng.choice([0, 0.5, 3, 30, 24 * 20, 24 * 90]))
        outcome = rng.choice([None, "succeeded", "failed", "rolled_back"])
        records += lifecycle(
            f"y{i:03d}",
            app=rng.choice(["web", "api"]),
            start=start,
            outcome=outcome,
            rollback=outcome == "rolled_back",
        )
    # a deployment known only from its outcome (no request seen): sorted by first event
    records.append(
        DeploymentFinished(
            id="orphan-fin",
            occurred_at=T0 + timedelta(days=200),
            deployment_id="orphan",
            app="web",
            outcome="failed",
        )
    )
    store.insert(records)
    oracle = store.query(
        "SELECT deployment_id, app, status FROM deployment_summary "
        "ORDER BY sort_at DESC, deployment_id DESC"
    )
    for limit in (1, 7, 50):
        assert _all_pages(store, limit) == [r["deployment_id"] for r in oracle]
    assert _all_pages(store, 5, app="api") == [
        r["deployment_id"] for r in oracle if r["app"] == "api"
    ]
    assert _all_pages(store, 3, outcome="failed", app="web") == [
        r["deployment_id"] for r in oracle if r["status"] == "failed" and r["app"] == "web"
    ]
