"""Commands to the executor, its results, operator overrides and the audit trail."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from schemas.base import Envelope
from schemas.decisions import Evidence
from schemas.deploy import Target


class RollbackCommand(Envelope):
    """Roll ``app`` back from ``from_version`` to ``to_version``. ``id`` is the idempotency key."""

    type: Literal["rollback.command"] = "rollback.command"
    deployment_id: str
    app: str
    environment: str = "production"
    target: Target = Field(default_factory=Target)
    strategy: str = "rolling"
    from_version: str = ""
    to_version: str | None = None
    from_revision: str | None = None
    reason: str = ""
    evidence: list[Evidence] = Field(default_factory=list)
    forced: bool = False
    requested_by: str = "smartdeploy"
    undo: bool = Field(
        default=False,
        description="Argo Rollouts: after abort also restore spec.template to the previous "
        "revision (a full revert, like `kubectl argo rollouts undo`)",
    )


ActionStatus = Literal["succeeded", "already_rolled_back", "stale", "blocked", "failed", "dry_run"]


class ActionResult(Envelope):
    """What the executor did with a command."""

    type: Literal["action.result"] = "action.result"
    command_id: str
    deployment_id: str
    app: str
    backend: str
    status: ActionStatus
    detail: str = ""
    attempts: int = Field(default=1, ge=0)
    operations: list[dict[str, Any]] = Field(default_factory=list)


class Override(Envelope):
    """An operator's decision, which wins over automation."""

    type: Literal["override"] = "override"
    deployment_id: str = Field(min_length=1)
    app: str = ""
    action: Literal["hold", "release", "force_rollback"]
    reason: str = Field(min_length=1, max_length=2000)
    actor: str = Field(min_length=1, max_length=200)


class AuditRecord(Envelope):
    """Who did what to which subject, and why."""

    type: Literal["audit"] = "audit"
    actor: str
    action: str
    subject: str
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
