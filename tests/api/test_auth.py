"""Bearer tokens: 401 without/unknown token, 403 below the role, reasons in the body."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.auth import AuthConfig, fingerprint
from tests.api.conftest import bearer

HOLD = {"action": "hold", "reason": "investigating"}


def test_missing_token_is_401_with_reason_and_challenge(client: TestClient) -> None:
    r = client.get("/v1/deployments")
    assert r.status_code == 401
    assert "missing bearer token" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_unknown_token_is_401(client: TestClient) -> None:
    r = client.get("/v1/deployments", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["detail"] == "unknown or revoked token"


def test_viewer_reads_but_cannot_override(client: TestClient) -> None:
    assert client.get("/v1/deployments", headers=bearer("viewer")).status_code == 200
    r = client.post("/v1/deployments/dep-1/overrides", json=HOLD, headers=bearer("viewer"))
    assert r.status_code == 403
    assert r.json()["detail"] == "role operator required; this token has viewer"


def test_operator_cannot_change_policies(client: TestClient) -> None:
    r = client.put("/v1/policies", json={"text": "", "reason": "x"}, headers=bearer("operator"))
    assert r.status_code == 403
    assert "role admin required" in r.json()["detail"]


def test_ingest_token_pushes_events_but_reads_nothing(client: TestClient) -> None:
    r = client.get("/v1/deployments", headers=bearer("ingest"))
    assert r.status_code == 403
    assert "ingest-only" in r.json()["detail"]


def test_viewer_cannot_push_events(client: TestClient) -> None:
    r = client.post("/v1/events", json={}, headers=bearer("viewer"))
    assert r.status_code == 403
    assert "ingest token" in r.json()["detail"]


def test_health_and_metrics_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_auth_disabled_without_tokens(make_client: Callable[..., TestClient]) -> None:
    open_client = make_client(auth=AuthConfig())
    assert open_client.get("/v1/deployments").status_code == 200


def test_unnamed_token_is_audited_by_fingerprint_not_by_value() -> None:
    cfg = AuthConfig(tokens={"sekrit-token-value": "operator"})
    who = cfg.identify("sekrit-token-value")
    assert who is not None and who.actor == fingerprint("sekrit-token-value")
    assert "sekrit" not in who.actor


def test_bad_role_in_token_table_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        AuthConfig(tokens={"t": "superuser"})
