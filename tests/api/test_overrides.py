"""Overrides are published to the guard and audited with who and why."""

from __future__ import annotations

from fastapi.testclient import TestClient

from schemas import AuditRecord, Override
from schemas import topics as t
from tests.api.conftest import bearer
from tests.api.fakes import FakePublisher

OP = bearer("operator")


def test_hold_publishes_override_and_audit(client: TestClient, publisher: FakePublisher) -> None:
    r = client.post(
        "/v1/deployments/dep-3/overrides",
        json={"action": "hold", "reason": "  customer escalation  "},
        headers=OP,
    )
    assert r.status_code == 202
    (t1, k1, ov), (t2, k2, audit) = publisher.sent
    assert (t1, t2) == (t.OVERRIDES, t.AUDIT)
    assert isinstance(ov, Override) and isinstance(audit, AuditRecord)
    assert k1 == k2 == "checkout"
    assert ov.action == "hold" and ov.actor == "olga" and ov.reason == "customer escalation"
    assert ov.deployment_id == "dep-3" and ov.app == "checkout"
    assert audit.actor == "olga" and audit.action == "override.hold"
    assert audit.subject == "deployment/dep-3" and audit.reason == "customer escalation"
    assert r.json()["audit_id"] == audit.id
    assert r.json()["override"]["id"] == ov.id


def test_hold_then_detail_shows_held_and_audit_lists_it(client: TestClient) -> None:
    client.post(
        "/v1/deployments/dep-3/overrides", json={"action": "hold", "reason": "why"}, headers=OP
    )
    assert client.get("/v1/deployments/dep-3", headers=OP).json()["held"] is True
    items = client.get("/v1/audit", params={"actor": "olga"}, headers=OP).json()["items"]
    assert [(i["action"], i["subject"]) for i in items] == [("override.hold", "deployment/dep-3")]
    client.post(
        "/v1/deployments/dep-3/overrides", json={"action": "release", "reason": "ok"}, headers=OP
    )
    assert client.get("/v1/deployments/dep-3", headers=OP).json()["held"] is False


def test_reason_is_required_and_not_blank(client: TestClient, publisher: FakePublisher) -> None:
    r = client.post("/v1/deployments/dep-3/overrides", json={"action": "hold"}, headers=OP)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "reason"
    r = client.post(
        "/v1/deployments/dep-3/overrides", json={"action": "hold", "reason": "  "}, headers=OP
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "reason"
    assert publisher.sent == []


def test_unknown_action_names_the_field(client: TestClient) -> None:
    r = client.post(
        "/v1/deployments/dep-3/overrides", json={"action": "nuke", "reason": "x"}, headers=OP
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "action"


def test_override_of_unknown_deployment_is_404(
    client: TestClient, publisher: FakePublisher
) -> None:
    r = client.post(
        "/v1/deployments/ghost/overrides",
        json={"action": "force_rollback", "reason": "x"},
        headers=OP,
    )
    assert r.status_code == 404 and publisher.sent == []


def test_broker_down_is_503(client: TestClient, publisher: FakePublisher) -> None:
    publisher.fail = RuntimeError("broker unreachable")
    r = client.post(
        "/v1/deployments/dep-3/overrides",
        json={"action": "force_rollback", "reason": "x"},
        headers=OP,
    )
    assert r.status_code == 503 and "broker unavailable" in r.json()["detail"]
