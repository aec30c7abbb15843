"""Liveness, readiness and the API's own Prometheus metrics.

Metrics live in a registry per app instance (not the global default) so tests
can build many apps in one process. Requests are labelled by the route
*template* (``/v1/deployments/{deployment_id}``), never the raw path, to keep
label cardinality bounded whatever clients send.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import ApiDeps, ErrorBody, get_deps

router = APIRouter(tags=["system"])

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ApiMetrics:
    """Request count and latency per (method, route, status)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("smartdeploy_api_requests", "HTTP requests served",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("smartdeploy_api_request_duration_seconds",
                                 "HTTP request latency", ["method", "route"],
                                 buckets=_BUCKETS, registry=self.registry)
        self.cache_hits = Gauge("smartdeploy_api_cache_hits", "deployment detail cache hits",
                                registry=self.registry)
        self.cache_misses = Gauge("smartdeploy_api_cache_misses",
                                  "deployment detail cache misses", registry=self.registry)
        self.stream_clients = Gauge("smartdeploy_api_stream_clients",
                                    "open live-stream (SSE) connections", registry=self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware (streaming-safe, unlike BaseHTTPMiddleware) feeding ApiMetrics."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, route, str(status[0])).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)


def _route_template(scope: Scope) -> str:
    """The matched route's path template (set on the scope by the router)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, bool]


@router.get("/healthz", response_model=Health, summary="Liveness (no auth)")
def healthz() -> Any:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, summary="Readiness of the dependencies (no auth)",
            responses={503: {"model": Readiness, "description": "Some dependency is not ready"}})
def readyz(deps: Annotated[ApiDeps, Depends(get_deps)]) -> Any:
    try:
        checks = {str(k): bool(v) for k, v in deps.readiness().items()}
    except Exception as exc:  # noqa: BLE001 - a failing check is "not ready", not a crash
        checks = {f"readiness ({type(exc).__name__})": False}
    ok = all(checks.values())
    body = {"status": "ready" if ok else "not ready", "checks": checks}
    return body if ok else JSONResponse(status_code=503, content=body)


@router.get("/metrics", summary="Prometheus metrics of the API itself (no auth)",
            response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition"},
                       503: {"model": ErrorBody}})
def metrics(request: Request) -> Response:
    api_metrics: ApiMetrics = request.app.state.metrics
    deps: ApiDeps = request.app.state.deps
    api_metrics.cache_hits.set(getattr(deps.reader, "hits", 0))
    api_metrics.cache_misses.set(getattr(deps.reader, "misses", 0))
    api_metrics.stream_clients.set(getattr(deps.live, "subscriber_count", 0))
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)
