"""Audit log query: who did what to which subject, and why (newest first)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, require_role
from api.deps import AUTH_ERRORS, ApiDeps, call_store, errors, get_deps

router = APIRouter(prefix="/v1", tags=["audit"])


class AuditItem(BaseModel):
    """One audit record (``schemas.AuditRecord`` as stored)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    occurred_at: Any = None
    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    reason: str | None = None


class AuditPage(BaseModel):
    items: list[AuditItem]
    next: str | None = Field(default=None, description="cursor of the next page; null at end")


@router.get("/audit", response_model=AuditPage, responses={**AUTH_ERRORS, **errors(400, 503)},
            summary="Query the audit log, newest first")
def list_audit(
    _: Annotated[Principal, Depends(require_role("viewer"))],
    deps: Annotated[ApiDeps, Depends(get_deps)],
    subject: Annotated[str | None, Query(min_length=1, max_length=300,
                                         description="e.g. deployment/<id> or policies")] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=100,
                                        description="e.g. override.hold")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=500)] = None,
) -> Any:
    page = call_store("history store", lambda: deps.reader.list_audit(
        subject=subject, actor=actor, action=action, limit=limit, cursor=cursor))
    return {"items": page.items, "next": page.next}
