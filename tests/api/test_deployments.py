"""Deployment list (filters, cursor pagination) and the detail timeline."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import bearer
from tests.api.fakes import FakeHistory

V = bearer("viewer")


def test_list_is_newest_first(client: TestClient) -> None:
    items = client.get("/v1/deployments", headers=V).json()["items"]
    assert [i["deployment_id"] for i in items] == [f"dep-{i}" for i in range(6, -1, -1)]
    assert items[0]["status"] == "succeeded" and items[0]["strategy"] == "canary"


def test_cursor_pagination_walks_every_deployment_once(client: TestClient) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/deployments", params=params, headers=V).json()
        seen += [i["deployment_id"] for i in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(f"dep-{i}" for i in range(7))


def test_filters_reach_the_store(client: TestClient) -> None:
    body = client.get("/v1/deployments", params={"app": "search"}, headers=V).json()
    assert {i["app"] for i in body["items"]} == {"search"}
    assert len(body["items"]) == 2
    none = client.get("/v1/deployments", params={"outcome": "failed"}, headers=V).json()
    assert none["items"] == []


def test_bad_cursor_is_400_with_reason(client: TestClient) -> None:
    r = client.get("/v1/deployments", params={"cursor": "garbage"}, headers=V)
    assert r.status_code == 400
    assert "cursor" in r.json()["detail"]


def test_invalid_query_names_the_field(client: TestClient) -> None:
    r = client.get("/v1/deployments", params={"limit": 10_000}, headers=V)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "limit"
    r = client.get("/v1/deployments", params={"outcome": "exploded"}, headers=V)
    assert r.json()["detail"][0]["field"] == "outcome"


def test_detail_groups_the_timeline(client: TestClient) -> None:
    d = client.get("/v1/deployments/dep-2", headers=V).json()
    assert d["app"] == "billing"
    assert d["prediction"]["p_failure"] == 0.31
    assert d["prediction"]["explanation"][0]["feature"] == "change.src_churn"
    assert d["decision"]["strategy"] == "canary"
    assert len(d["kpi_windows"]) == 3 and len(d["kpis"]["canary/error_rate"]) == 3
    assert d["verdicts"][0]["evidence"][0]["kpi"] == "error_rate"
    assert [e["type"] for e in d["events"]][0] == "deployment.requested"
    assert d["progress"] == {"step": 3, "weight": 60.0, "phase": "progressing"}
    assert d["held"] is False
    times = [r["occurred_at"] for r in d["timeline"]]
    assert times == sorted(times)


def test_unknown_deployment_is_404_with_reason(client: TestClient) -> None:
    r = client.get("/v1/deployments/does-not-exist", headers=V)
    assert r.status_code == 404
    assert "does-not-exist" in r.json()["detail"]


def test_store_failure_is_503_not_500(client: TestClient, history: FakeHistory) -> None:
    history.fail = ConnectionError("clickhouse down")
    r = client.get("/v1/deployments", headers=V)
    assert r.status_code == 503
    assert "history store unavailable" in r.json()["detail"]
    assert client.get("/v1/deployments/dep-1", headers=V).status_code == 503


def test_model_metrics_404_until_reported_then_served(
    client: TestClient, history: FakeHistory
) -> None:
    assert client.get("/v1/models/success/metrics", headers=V).status_code == 404
    history.add(
        {
            "type": "model.metrics",
            "model": "success",
            "n": 500,
            "roc_auc": 0.71,
            "occurred_at": "2026-11-01T12:00:00Z",
            "id": "m1",
        }
    )
    body = client.get("/v1/models/success/metrics", headers=V).json()
    assert body["roc_auc"] == 0.71 and body["n"] == 500


def test_unknown_or_repeated_query_parameters_are_422(client: TestClient) -> None:
    r = client.get("/v1/deployments", params={"ap": "search"}, headers=V)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "ap"
    r = client.get("/v1/deployments?app=a&app=b", headers=V)
    assert r.status_code == 422 and "more than once" in r.json()["detail"][0]["msg"]
