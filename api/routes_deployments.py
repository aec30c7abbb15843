"""Deployments: list with filters and cursor pagination, detail timeline, overrides.

The detail view groups the stored timeline by kind (prediction, strategy
decision, KPI windows, verdicts, commands, actions, overrides) so the UI and
scripts need no knowledge of record types, and adds per-KPI series for
sparklines. Overrides are published to ``smartdeploy.overrides`` (the guard
obeys them) together with an audit record naming who and why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import Principal, require_role
from api.deps import AUTH_ERRORS, NOT_BLANK, ApiDeps, call_store, errors, get_deps
from schemas import AuditRecord, Override, derived_id, new_id
from schemas import topics as t

router = APIRouter(prefix="/v1", tags=["deployments"])

DeploymentId = Annotated[str, Path(min_length=1, max_length=200,
                                   description="deployment id (any string CI sent, URL-encoded)")]


class DeploymentSummary(BaseModel):
    """One deployment as listed: identity, latest state, prediction and strategy."""

    model_config = ConfigDict(extra="allow")

    deployment_id: str
    app: str
    environment: str | None = None
    version: str | None = None
    requested_at: datetime | None = None
    strategy: str | None = None
    p_failure: float | None = None
    status: str | None = Field(
        default=None, description="requested|started|succeeded|failed|rolled_back|aborted")
    outcome: str | None = None
    rollback_count: int | None = None


class DeploymentPage(BaseModel):
    items: list[DeploymentSummary]
    next: str | None = Field(default=None, description="cursor of the next page; null at end")


class KpiPoint(BaseModel):
    """One KPI window reduced to what a sparkline needs."""

    t: str
    value: float | None
    status: str
    track: str | None = None
    threshold: float | None = None


class Progress(BaseModel):
    step: int | None = None
    weight: float | None = None
    phase: str | None = None


class DeploymentDetail(DeploymentSummary):
    """The summary plus every stored record about the deployment, grouped by kind."""

    timeline: list[dict[str, Any]] = Field(description="every record, in event-time order")
    events: list[dict[str, Any]] = Field(default_factory=list)
    prediction: dict[str, Any] | None = Field(default=None,
                                              description="latest prediction with explanation")
    decision: dict[str, Any] | None = Field(default=None, description="latest strategy decision")
    kpi_windows: list[dict[str, Any]] = Field(default_factory=list)
    kpis: dict[str, list[KpiPoint]] = Field(default_factory=dict,
                                            description="per 'track/kpi' series for sparklines")
    verdicts: list[dict[str, Any]] = Field(default_factory=list,
                                           description="verdicts with their evidence")
    commands: list[dict[str, Any]] = Field(default_factory=list)
    actions: list[dict[str, Any]] = Field(default_factory=list)
    overrides: list[dict[str, Any]] = Field(default_factory=list)
    audit: list[dict[str, Any]] = Field(default_factory=list)
    held: bool = Field(default=False, description="an operator hold is in force")
    progress: Progress = Field(default_factory=Progress)


_GROUP = {
    "prediction": "prediction", "strategy.decision": "decision", "kpi.window": "kpi_windows",
    "verdict": "verdicts", "rollback.command": "commands", "action.result": "actions",
    "override": "overrides", "audit": "audit",
}


def group_timeline(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """Split a timeline by record kind; latest prediction/decision win; derive hold state.

    >>> g = group_timeline([
    ...     {"type": "deployment.step", "step": 1, "weight": 20.0, "phase": "progressing"},
    ...     {"type": "kpi.window", "kpi": "error_rate", "track": "canary", "value": 0.1,
    ...      "status": "ok", "window_end": "2026-01-01T00:00:00Z"},
    ...     {"type": "override", "action": "hold"}, {"type": "override", "action": "release"}])
    >>> g["held"], g["progress"]["weight"], g["kpis"]["canary/error_rate"][0]["value"]
    (False, 20.0, 0.1)
    """
    out: dict[str, Any] = {k: [] for k in _GROUP.values() if k not in ("prediction", "decision")}
    out.update(events=[], prediction=None, decision=None, kpis={}, held=False, progress={})
    for rec in timeline:
        kind = str(rec.get("type", ""))
        group = _GROUP.get(kind)
        if group in ("prediction", "decision"):
            out[group] = rec
        elif group is not None:
            out[group].append(rec)
        elif kind.startswith("deployment."):
            out["events"].append(rec)
            if kind == "deployment.step":
                out["progress"] = {k: rec.get(k) for k in ("step", "weight", "phase")}
        if kind == "override" and rec.get("action") in ("hold", "release"):
            out["held"] = rec.get("action") == "hold"
        if kind == "kpi.window":
            key = f"{rec.get('track', '')}/{rec.get('kpi', '')}"
            out["kpis"].setdefault(key, []).append({
                "t": str(rec.get("window_end") or rec.get("occurred_at") or ""),
                "value": rec.get("value"), "status": str(rec.get("status", "")),
                "track": rec.get("track"), "threshold": rec.get("threshold"),
            })
    return out


@router.get("/deployments", response_model=DeploymentPage, responses={**AUTH_ERRORS,
            **errors(400, 503)}, summary="List deployments, newest first")
def list_deployments(
    _: Annotated[Principal, Depends(require_role("viewer"))],
    deps: Annotated[ApiDeps, Depends(get_deps)],
    app: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    environment: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    outcome: Literal["succeeded", "failed", "rolled_back", "aborted"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=500,
                                        description="`next` of the previous page")] = None,
) -> Any:
    page = call_store("history store", lambda: deps.reader.list_deployments(
        app=app, environment=environment, outcome=outcome, limit=limit, cursor=cursor))
    return {"items": page.items, "next": page.next}


@router.get("/deployments/{deployment_id}", response_model=DeploymentDetail,
            responses={**AUTH_ERRORS, **errors(404, 503)},
            summary="One deployment with its full timeline")
async def get_deployment(
    deployment_id: DeploymentId,
    _: Annotated[Principal, Depends(require_role("viewer"))],
    deps: Annotated[ApiDeps, Depends(get_deps)],
) -> Any:
    peek = getattr(deps.reader, "peek_rendered", None)
    body = peek(deployment_id) if peek is not None else None
    if body is None:  # not a ready cache hit: the store call blocks, so off the event loop
        body = await run_in_threadpool(_load_detail, deps, deployment_id)
    if body is None:
        raise HTTPException(status_code=404,
                            detail=f"deployment {deployment_id!r} is not in the history store")
    return Response(body, media_type="application/json")


def _load_detail(deps: ApiDeps, deployment_id: str) -> bytes | None:
    get_rendered = getattr(deps.reader, "get_rendered", None)
    if get_rendered is not None:  # a caching reader keeps the encoded answer
        rendered: bytes | None = call_store(
            "history store", lambda: get_rendered(deployment_id, render_detail))
        return rendered
    row = call_store("history store", lambda: deps.reader.get_deployment(deployment_id))
    return None if row is None else render_detail(row)


def render_detail(row: dict[str, Any]) -> bytes:
    """The detail JSON of a stored deployment: summary, timeline and its groups.

    The hot read, so it skips re-validating our own output and encodes with
    orjson (the response model still documents the shape; Schemathesis checks it).
    """
    timeline = list(row.get("timeline") or [])
    return orjson.dumps({**row, "timeline": timeline, **group_timeline(timeline)}, default=str)


class OverrideRequest(BaseModel):
    """An operator's decision on one deployment; ``reason`` is mandatory and audited."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "hold", "reason": "error budget review with the checkout team"},
        {"action": "force_rollback", "reason": "customer-reported checkout failures"}]})

    action: Literal["hold", "release", "force_rollback"]
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK,
                        description="why (audited); must not be blank")

    @field_validator("reason")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class OverrideAccepted(BaseModel):
    override: dict[str, Any]
    audit_id: str


@router.post("/deployments/{deployment_id}/overrides", status_code=202,
             response_model=OverrideAccepted, responses={**AUTH_ERRORS, **errors(400, 404, 503)},
             summary="Hold, release or force-roll-back a deployment (operator)")
def post_override(
    deployment_id: DeploymentId,
    body: OverrideRequest,
    who: Annotated[Principal, Depends(require_role("operator"))],
    deps: Annotated[ApiDeps, Depends(get_deps)],
) -> Any:
    row = call_store("history store", lambda: deps.reader.get_deployment(deployment_id))
    if row is None:
        raise HTTPException(status_code=404,
                            detail=f"deployment {deployment_id!r} is not in the history store")
    app = str(row.get("app") or "")
    now = datetime.now(UTC)
    override = Override(id=new_id(), occurred_at=now, deployment_id=deployment_id, app=app,
                        action=body.action, reason=body.reason, actor=who.actor)
    audit = AuditRecord(id=derived_id(override.id, "audit"), occurred_at=now, actor=who.actor,
                        action=f"override.{body.action}", subject=f"deployment/{deployment_id}",
                        reason=body.reason, details={"app": app, "override_id": override.id})
    call_store("broker", lambda: deps.publisher.publish(t.OVERRIDES, app or deployment_id,
                                                        override))
    call_store("broker", lambda: deps.publisher.publish(t.AUDIT, app or deployment_id, audit))
    return {"override": override.model_dump(mode="json"), "audit_id": audit.id}
