"""POST /v1/events: native or CDEvents in, validated, published to deploy.events."""

from __future__ import annotations

from fastapi.testclient import TestClient

from schemas import DeploymentFinished, DeploymentRequested
from schemas import topics as t
from tests.api.conftest import bearer
from tests.api.fakes import FakePublisher

REQ = {
    "type": "deployment.requested",
    "occurred_at": "2026-11-01T12:00:00Z",
    "deployment_id": "d-9",
    "app": "web",
    "version": "1.2.3",
}


def test_native_event_with_ingest_token(client: TestClient, publisher: FakePublisher) -> None:
    r = client.post("/v1/events", json=REQ, headers=bearer("ingest"))
    assert r.status_code == 202, r.text
    [(topic, key, rec)] = publisher.sent
    assert topic == t.DEPLOY_EVENTS and key == "web" and isinstance(rec, DeploymentRequested)
    assert r.json() == {
        "id": rec.id,
        "type": "deployment.requested",
        "deployment_id": "d-9",
        "topic": t.DEPLOY_EVENTS,
    }


def test_cdevent_with_operator_token(client: TestClient, publisher: FakePublisher) -> None:
    cd = {
        "context": {
            "id": "e1",
            "type": "dev.cdevents.service.rolledback.0.3.0",
            "timestamp": "2026-11-01T12:00:00Z",
            "source": "argo",
        },
        "subject": {"id": "web", "content": {"environment": {"id": "prod"}}},
    }
    r = client.post("/v1/events", json=cd, headers=bearer("operator"))
    assert r.status_code == 202, r.text
    assert isinstance(publisher.sent[0][2], DeploymentFinished)


def test_invalid_event_names_the_field(client: TestClient, publisher: FakePublisher) -> None:
    r = client.post("/v1/events", json={**REQ, "version": ""}, headers=bearer("ingest"))
    assert r.status_code == 422
    assert any(d["field"].endswith("version") for d in r.json()["detail"])
    r = client.post("/v1/events", json={"type": "bogus"}, headers=bearer("ingest"))
    assert r.status_code == 422
    assert publisher.sent == []


def test_cdevent_missing_subject_is_422_with_reason(client: TestClient) -> None:
    cd = {
        "context": {
            "id": "e1",
            "type": "dev.cdevents.service.deployed.0.3.0",
            "timestamp": "2026-11-01T12:00:00Z",
        }
    }
    r = client.post("/v1/events", json=cd, headers=bearer("ingest"))
    assert r.status_code == 422 and "subject" in r.json()["detail"]


def test_non_object_body_is_422(client: TestClient) -> None:
    r = client.post("/v1/events", json=[1, 2], headers=bearer("ingest"))
    assert r.status_code == 422
