"""The FastAPI application: routers, auth, uniform error bodies, metrics, the web UI.

``create_app`` is the only constructor; the composition root passes every port
in ``ApiDeps`` (tests pass in-memory fakes). Every refusal is JSON with a
``detail`` reason, and no input — however malformed — yields a 5xx: store and
broker failures are 503 with a reason, anything unexpected is logged and
answered 503 rather than leaking a stack trace.
"""

from __future__ import annotations

import logging
import re
from typing import Any, get_args, get_origin

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.routing import compile_path

from api import (
    routes_audit,
    routes_deployments,
    routes_events,
    routes_models,
    routes_policies,
    routes_stream,
    routes_system,
    routes_ui,
)
from api.auth import ROLE_RANK, require_role
from api.deps import ApiDeps, errors
from api.exact_routes import ExactRoutesMiddleware, exact_plain_routes
from api.routes_system import ApiMetrics, MetricsMiddleware

log = logging.getLogger("smartdeploy.api")

DESCRIPTION = """\
Watch, understand and override every deployment live.

**Auth**: `Authorization: Bearer <token>`. Roles are ordered viewer < operator < admin:
viewers read, operators also place overrides and push events, admins also change
policies. Ingest tokens may only push data (`POST /v1/events`, remote-write).
With no tokens configured auth is disabled (local development only).
Every error answer is JSON with a `detail` reason; 422 names the offending field.
"""


def _reason_of_validation(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's error list, JSON-safe (ctx may hold exceptions) and without echoing input."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"loc": loc, "msg": str(err.get("msg", "invalid")),
                    "type": str(err.get("type", "value_error")), "field": ".".join(loc[1:])})
    return out


def _allowed_methods(request: Request) -> set[str]:
    """Every documented method on this path (Starlette reports only the first route's)."""
    app = request.app
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allow", None)
    if table is None:
        table = [(compile_path(path)[0], {m.upper() for m in ops})
                 for path, ops in app.openapi().get("paths", {}).items()]
        app.state.allow = table
    path = request.url.path
    methods = set().union(*(m for rx, m in table if rx.match(path)))
    return methods or {"GET"}


def _is_multi(annotation: Any) -> bool:
    """True for list-like query parameters (``list[str] | None`` …), which may repeat."""
    origin = get_origin(annotation)
    if origin in (list, set, tuple, frozenset):
        return True
    return any(_is_multi(arg) for arg in get_args(annotation)) if origin is not None else False


def _query_names(route: APIRoute) -> tuple[frozenset[str], frozenset[str]]:
    """(every query parameter name, the scalar ones) declared by a route and its deps."""
    cached = _QUERY_NAMES.get(id(route))
    if cached is None:
        names: set[str] = set()
        scalar: set[str] = set()
        stack = [route.dependant]
        while stack:
            dependant = stack.pop()
            for param in dependant.query_params:
                names.add(param.alias)
                if not _is_multi(param.field_info.annotation):
                    scalar.add(param.alias)
            stack.extend(dependant.dependencies)
        cached = (frozenset(names), frozenset(scalar))
        _QUERY_NAMES[id(route)] = cached
    return cached


_QUERY_NAMES: dict[int, tuple[frozenset[str], frozenset[str]]] = {}


async def reject_unknown_query(request: Request) -> None:
    """A misspelt or repeated filter must not silently change the answer: 422 naming it."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    names, scalar = _query_names(route)
    given = request.query_params
    problems = [(k, f"unknown query parameter {k!r}", "extra_forbidden")
                for k in sorted(set(given) - names)]
    problems += [(k, f"query parameter {k!r} given more than once", "too_many_values")
                 for k in sorted(set(given) & scalar) if len(given.getlist(k)) > 1]
    if problems:
        raise RequestValidationError([{"loc": ("query", name), "msg": msg, "type": kind}
                                      for name, msg, kind in problems])


def create_app(deps: ApiDeps) -> FastAPI:
    """Build the API for the given ports."""
    app = FastAPI(title=deps.title, version="1", description=DESCRIPTION,
                  dependencies=[Depends(reject_unknown_query)],
                  openapi_tags=[{"name": n} for n in (
                      "deployments", "events", "policies", "audit", "models", "stream",
                      "system", "ingest", "predict", "strategy")])
    app.state.deps = deps
    app.state.metrics = ApiMetrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _reason_of_validation(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if exc.detail is not None else "error"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
        return JSONResponse(status_code=exc.status_code, content={"detail": detail},
                            headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error: %s", type(exc).__name__)
        return JSONResponse(status_code=503,
                            content={"detail": f"temporarily unavailable ({type(exc).__name__})"})

    for module in (routes_system, routes_deployments, routes_events, routes_audit,
                   routes_policies, routes_models, routes_stream):
        app.include_router(module.router)
    for router, role in deps.extra_routers:
        if role is None:
            app.include_router(router)
        elif role in ROLE_RANK:
            app.include_router(router, dependencies=[Depends(require_role(role))],  # type: ignore[arg-type]
                               responses=errors(401, 403))
        else:
            raise ValueError(f"extra_routers: unknown role {role!r} (viewer|operator|admin)")
    app.include_router(routes_ui.router)
    # innermost user middleware (inside the metrics one): remote-write skips the route scan
    exact = exact_plain_routes(
        r for router, role in deps.extra_routers if role is None for r in router.routes
    )
    app.user_middleware.append(Middleware(ExactRoutesMiddleware, routes=exact))  # type: ignore[arg-type]
    return app
