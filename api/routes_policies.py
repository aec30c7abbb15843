"""KPI policies: read (viewer) and replace (admin, validated, audited).

An update carries the whole document (YAML or JSON text) and a reason. It is
validated with the same ``models.policy.build_policies`` the guard uses, so a
document the API accepts is one the guard can load; a bad one is refused with
422 naming the field. Accepted updates are stored, then audited with who and why.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import Principal, require_role
from api.deps import AUTH_ERRORS, NOT_BLANK, ApiDeps, call_store, errors, get_deps
from schemas import AuditRecord, derived_id
from schemas import topics as t

router = APIRouter(prefix="/v1", tags=["policies"])

MAX_POLICY_CHARS = 256 * 1024


def validate_policy_text(text: str) -> dict[str, Any]:
    """Parse YAML/JSON policy text and validate it; returns the effective policies.

    Raises ``ValueError`` whose message names the offending field.

    >>> validate_policy_text("apps: {web: {kpis: [{name: error_rate, max: 0.01}]}}")["apps"][
    ...     "web"]["kpis"][0]["max"]
    0.01
    >>> validate_policy_text("apps: [1]")
    Traceback (most recent call last):
    ...
    models.policy.PolicyError: policies: apps: must be a mapping of app name to policy
    """
    from models.policy import build_policies

    try:
        doc = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"text: not valid YAML/JSON{where}") from exc
    if doc is not None and not isinstance(doc, dict):
        raise ValueError("text: top level must be a mapping with 'defaults' and/or 'apps'")
    return build_policies(doc, "policies").model_dump(mode="json", by_alias=True)


class PolicyView(BaseModel):
    """The active document as written, and the effective (validated, merged) policies."""

    version: str
    text: str = Field(description="the policy document (YAML) as stored")
    effective: dict[str, Any] = Field(description="defaults and per-app policies after merging")
    editable: bool = Field(description="false when no policy store is configured")


class PolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_POLICY_CHARS, description="YAML or JSON policy document")
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK,
                        description="why (audited); must not be blank")

    @field_validator("reason")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


def _validator(deps: ApiDeps) -> Any:
    return deps.validate_policies or validate_policy_text


@router.get("/policies", response_model=PolicyView, responses={**AUTH_ERRORS, **errors(503)},
            summary="The active KPI/rollback policies")
def get_policies(
    _: Annotated[Principal, Depends(require_role("viewer"))],
    deps: Annotated[ApiDeps, Depends(get_deps)],
) -> Any:
    store = deps.policies
    if store is None:
        return {"version": "builtin", "text": "", "effective": _validator(deps)(""),
                "editable": False}
    current = call_store("policy store", store.read)
    text = str(current.get("text") or "")
    try:
        effective = _validator(deps)(text)
    except Exception as exc:  # noqa: BLE001 - a hand-edited file broke: say so, do not fail
        effective = {"error": str(exc) or type(exc).__name__}
    return {"version": str(current.get("version") or "unknown"), "text": text,
            "effective": effective, "editable": True}


class PolicyUpdated(BaseModel):
    version: str
    audit_id: str
    effective: dict[str, Any]


@router.put("/policies", response_model=PolicyUpdated,
            responses={**AUTH_ERRORS, **errors(400, 422, 503)},
            summary="Replace the policy document (admin; validated and audited)")
def put_policies(
    body: PolicyUpdate,
    who: Annotated[Principal, Depends(require_role("admin"))],
    deps: Annotated[ApiDeps, Depends(get_deps)],
) -> Any:
    store = deps.policies
    if store is None:
        raise HTTPException(status_code=503, detail="no policy store is configured")
    try:
        effective = _validator(deps)(body.text)
    except Exception as exc:  # noqa: BLE001 - any failure to validate is the document's fault
        msg = str(exc) if isinstance(exc, ValueError) else f"invalid ({type(exc).__name__})"
        raise HTTPException(status_code=422, detail=[{
            "loc": ["body", "text"], "field": "text", "msg": msg, "type": "policy_error"}],
        ) from exc
    version = call_store("policy store", lambda: store.write(body.text))
    now = datetime.now(UTC)
    digest = hashlib.sha256(body.text.encode()).hexdigest()[:16]
    audit = AuditRecord(id=derived_id("policies", version, digest, now.isoformat()),
                        occurred_at=now, actor=who.actor, action="policies.update",
                        subject="policies", reason=body.reason,
                        details={"version": version, "sha256": digest})
    call_store("broker", lambda: deps.publisher.publish(t.AUDIT, "policies", audit))
    return {"version": version, "audit_id": audit.id, "effective": effective}
