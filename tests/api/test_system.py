"""Liveness, readiness, the API's own metrics, OpenAPI completeness, extra routers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from tests.api.conftest import bearer


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/v1/deployments/dep-1", headers=bearer("viewer"))
    client.get("/v1/deployments/dep-2", headers=bearer("viewer"))
    client.get("/v1/deployments/dep-2")
    text = client.get("/metrics").text
    assert (
        'smartdeploy_api_requests_total{method="GET",'
        'route="/v1/deployments/{deployment_id}",status="200"} 2.0'
    ) in text
    assert 'route="/v1/deployments/{deployment_id}",status="401"} 1.0' in text
    assert "smartdeploy_api_request_duration_seconds_bucket" in text
    assert "dep-1" not in text


def test_readyz_reports_failing_checks_as_503(make_client: Callable[..., TestClient]) -> None:
    c = make_client(readiness=lambda: {"broker": True, "history": False})
    r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "not ready", "checks": {"broker": True, "history": False}}


def test_readyz_check_that_raises_is_not_ready(make_client: Callable[..., TestClient]) -> None:
    def boom() -> dict[str, bool]:
        raise OSError("nope")

    assert make_client(readiness=boom).get("/readyz").status_code == 503


def test_extra_routers_get_the_requested_role(make_client: Callable[..., TestClient]) -> None:
    extra = APIRouter()

    @extra.get("/v1/extra")
    def _extra() -> dict[str, str]:
        return {"ok": "yes"}

    c = make_client(extra_routers=[(extra, "admin")])
    assert c.get("/v1/extra", headers=bearer("operator")).status_code == 403
    assert c.get("/v1/extra", headers=bearer("admin")).json() == {"ok": "yes"}


def test_openapi_documents_errors_and_security(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/v1/deployments/{deployment_id}"]["get"]
    assert {"200", "401", "403", "404", "422", "503"} <= set(op["responses"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "/v1/deployments/{deployment_id}/overrides" in spec["paths"]
    assert "/v1/stream" in spec["paths"] and "/v1/policies" in spec["paths"]


def test_ui_is_served_at_root(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert client.get("/ui/missing.js").status_code == 404


def test_extra_router_with_unknown_role_is_refused(
        make_client: Callable[..., TestClient]) -> None:
    with pytest.raises(ValueError, match="unknown role 'root'"):
        make_client(extra_routers=[(APIRouter(), "root")])


def test_remote_write_on_the_full_app_is_served_directly_and_still_counted(
    make_client: Callable[..., TestClient],
) -> None:
    from api.ingest import IngestConfig, build_ingest_router
    from tests.ingest.fakes import FakeProducer
    from tests.ingest.payloads import series_labels, snappy, write_request

    producer = FakeProducer()
    ingest = build_ingest_router(IngestConfig(), producer)
    guarded = APIRouter()
    guarded.add_route("/v1/guarded", lambda request: None, methods=["GET"])  # type: ignore[arg-type,return-value]
    c = make_client(extra_routers=[(ingest, None), (guarded, "admin")])
    body = snappy(write_request(series_labels(50, seed=1), 1_763_769_600_000))
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
    assert c.post("/api/v1/write", content=body, headers=headers).status_code == 204
    assert c.post("/api/v1/write", content=body, headers={}).status_code == 415
    assert c.get("/api/v1/write").status_code == 405  # other methods: the usual routing
    assert producer.sent
    text = c.get("/metrics").text
    assert 'method="POST",route="/api/v1/write",status="204"} 1.0' in text
    assert 'method="POST",route="/api/v1/write",status="415"} 1.0' in text
    stack, exact = c.app.middleware_stack, None  # type: ignore[attr-defined]
    while stack is not None and exact is None:
        exact = stack if type(stack).__name__ == "ExactRoutesMiddleware" else None
        stack = getattr(stack, "app", None)
    assert exact is not None
    assert sorted(exact.routes) == [("/api/v1/write", "POST")]  # not the guarded one
