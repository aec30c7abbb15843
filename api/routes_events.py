"""Deployment events from CI/CD (native JSON or CDEvents) onto ``smartdeploy.deploy.events``.

Validation happens here, at the edge, so a malformed event is refused with a
422 naming the field instead of reaching the worker's dead-letter queue.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from pydantic import BaseModel, ValidationError

from api.auth import Principal, require_ingest_or
from api.deps import AUTH_ERRORS, ApiDeps, call_store, errors, get_deps
from schemas import parse_deploy_event
from schemas import topics as t

router = APIRouter(prefix="/v1", tags=["events"])

MAX_EVENT_BYTES = 256 * 1024


class EventAccepted(BaseModel):
    id: str
    type: str
    deployment_id: str
    topic: str


def _validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": ["body", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"],
             "field": ".".join(map(str, e["loc"]))} for e in exc.errors()]


@router.post("/events", status_code=202, response_model=EventAccepted,
             responses={**AUTH_ERRORS, **errors(400, 413, 422, 503)},
             summary="Publish a deployment event (ingest token or operator)")
def post_event(
    event: Annotated[dict[str, Any], Body(description=(
        "A DeploymentRequested / Started / Step / Finished (field `type`) or a CDEvent "
        "(service.deployed / upgraded / rolledback)"))],
    _: Annotated[Principal, Depends(require_ingest_or("operator"))],
    deps: Annotated[ApiDeps, Depends(get_deps)],
) -> Any:
    if len(json.dumps(event, default=str)) > MAX_EVENT_BYTES:
        raise HTTPException(status_code=413, detail=f"event larger than {MAX_EVENT_BYTES} bytes")
    try:
        parsed = parse_deploy_event(event)
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=_validation_detail(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise HTTPException(status_code=422, detail=str(exc) or "invalid event") from exc
    call_store("broker", lambda: deps.publisher.publish(t.DEPLOY_EVENTS, parsed.app, parsed))
    return {"id": parsed.id, "type": parsed.type, "deployment_id": parsed.deployment_id,
            "topic": t.DEPLOY_EVENTS}
