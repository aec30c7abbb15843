"""Everything the API needs, injected once by the composition root, plus shared views.

``ApiDeps`` is stored on ``app.state`` so routers stay module-level and every
test builds an app from in-memory fakes. Store calls go through ``call_store``,
which turns adapter failures into 503 with a reason (a broken ClickHouse must
never surface as a 5xx crash page, and never leak a stack trace).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from api.auth import AuthConfig
from api.live import InMemoryLiveFeed, LiveFeed
from api.ports import HistoryReader, PolicyStore, Publisher

log = logging.getLogger("smartdeploy.api")
T = TypeVar("T")


def _always_ready() -> dict[str, bool]:
    return {"api": True}


@dataclass
class ApiDeps:
    """Ports and configuration of one API instance."""

    reader: HistoryReader
    publisher: Publisher
    auth: AuthConfig = field(default_factory=AuthConfig)
    live: LiveFeed = field(default_factory=InMemoryLiveFeed)
    policies: PolicyStore | None = None
    #: Parses and validates a policy document (YAML/JSON text) → normalised dict; raises
    #: ValueError / pydantic.ValidationError naming the field. Default: models.policy.
    validate_policies: Callable[[str], dict[str, Any]] | None = None
    #: Named readiness checks (broker, history store, worker…); all True → ready.
    readiness: Callable[[], dict[str, bool]] = _always_ready
    #: Routers written elsewhere (ingest, predict, strategy) with the role they require,
    #: or None when the router does its own auth.
    extra_routers: list[tuple[APIRouter, str | None]] = field(default_factory=list)
    title: str = "smartdeploy"
    #: SSE connections are closed after this long (clients reconnect): bounds the life of
    #: a forgotten tab's subscription and lets load balancers rebalance.
    stream_max_s: float = 900.0


#: "Contains a non-blank character", with the same meaning in JSON Schema (ECMA), pydantic
#: (Rust regex) and Python: their whitespace classes differ only in U+0085 / U+FEFF / the
#: separators U+001C–U+001F, so all of those are listed as blank explicitly. Anything that
#: matches keeps a character after ``str.strip()``.
NOT_BLANK = r"[^\s\x1c-\x1f\x85\ufeff]"


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer: a human-readable reason (422: a list naming the fields)."""

    detail: str | list[dict[str, Any]] = Field(description="why the request was refused")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error codes, all with ErrorBody."""
    text = {
        400: "Bad request (e.g. an invalid cursor)",
        401: "Missing or unknown token",
        403: "Token lacks the required role",
        404: "Not found",
        409: "Conflict with the current state",
        413: "Request body too large",
        422: "Validation failed; `detail` names the field",
        503: "A backing store or the broker is unavailable",
    }
    return {c: {"model": ErrorBody, "description": text.get(c, "Error")} for c in codes}


AUTH_ERRORS = errors(401, 403)


async def get_deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


def call_store(what: str, fn: Callable[[], T]) -> T:
    """Run a store/broker call; ValueError → 400 (bad cursor etc.), anything else → 503."""
    try:
        return fn()
    except HTTPException:
        raise
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc) or f"{what}: bad request") from exc
    except Exception as exc:  # noqa: BLE001 - adapter failures become a clean 503
        log.warning("%s failed: %s", what, type(exc).__name__)
        raise HTTPException(status_code=503,
                            detail=f"{what} unavailable ({type(exc).__name__})") from exc
