"""Policies: viewers read, admins replace with a validated document, every change audited."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from schemas import AuditRecord
from schemas import topics as t
from tests.api.conftest import bearer
from tests.api.fakes import FakePublisher, MemoryPolicyStore

ADMIN = bearer("admin")


def test_viewer_sees_document_and_effective_policies(client: TestClient) -> None:
    body = client.get("/v1/policies", headers=bearer("viewer")).json()
    assert "checkout" in body["text"] and body["editable"] is True
    assert body["effective"]["apps"]["checkout"]["kpis"][0]["max"] == 0.02


def test_admin_update_is_stored_and_audited(
    client: TestClient, publisher: FakePublisher, policies: MemoryPolicyStore
) -> None:
    text = "apps:\n  search:\n    kpis:\n      - {name: error_rate, max: 0.03}\n"
    r = client.put("/v1/policies", json={"text": text, "reason": "tighten search"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert policies.text == text
    assert r.json()["effective"]["apps"]["search"]["kpis"][0]["max"] == 0.03
    [(topic, key, audit)] = publisher.sent
    assert topic == t.AUDIT and key == "policies" and isinstance(audit, AuditRecord)
    assert (audit.actor, audit.action, audit.reason) == ("ada", "policies.update", "tighten search")
    assert audit.details["version"] == r.json()["version"]


def test_json_documents_are_accepted_too(client: TestClient) -> None:
    r = client.put(
        "/v1/policies",
        headers=ADMIN,
        json={
            "text": '{"apps": {"web": {"kpis": [{"name": "error_rate", "max": 0.1}]}}}',
            "reason": "json",
        },
    )
    assert r.status_code == 200


def test_invalid_policy_is_422_naming_the_field(
    client: TestClient, publisher: FakePublisher, policies: MemoryPolicyStore
) -> None:
    before = policies.text
    r = client.put(
        "/v1/policies",
        headers=ADMIN,
        json={
            "text": "apps:\n  web:\n    kpis:\n      - {name: error_rate, kind: teleport}\n",
            "reason": "oops",
        },
    )
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["field"] == "text" and "apps.web.kpis.0.kind" in detail["msg"]
    assert policies.text == before and publisher.sent == []


def test_broken_yaml_is_422(client: TestClient) -> None:
    r = client.put("/v1/policies", headers=ADMIN, json={"text": "apps: [\n", "reason": "x"})
    assert r.status_code == 422 and "not valid YAML" in r.json()["detail"][0]["msg"]


def test_without_policy_store_reads_builtin_and_refuses_writes(
    make_client: Callable[..., TestClient],
) -> None:
    c = make_client(policies=None)
    body = c.get("/v1/policies", headers=ADMIN).json()
    assert body["editable"] is False and body["version"] == "builtin"
    assert body["effective"]["default"]["kpis"]
    r = c.put("/v1/policies", headers=ADMIN, json={"text": "", "reason": "x"})
    assert r.status_code == 503 and "no policy store" in r.json()["detail"]
