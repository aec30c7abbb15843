"""Which operation a command asks for, as a pure function of the command.

Shared by the dry-run backend (which records it) and the real backends (which
perform it), so a dry run shows exactly what a live run would attempt.
"""

from __future__ import annotations

from typing import Any, Literal

from schemas.commands import RollbackCommand

Action = Literal["undo", "scale_to_zero", "switch_selector", "abort", "abort_and_undo"]


def action_for(command: RollbackCommand) -> Action:
    """The rollback operation for a command's strategy and target.

    canary/shadow with a separate canary Deployment -> scale it to 0; blue/green with a
    Service -> switch its selector back; an Argo Rollout -> abort (and undo when asked);
    anything else -> undo the Deployment like ``kubectl rollout undo``.

    >>> from datetime import UTC, datetime
    >>> from schemas.deploy import Target
    >>> c = RollbackCommand(occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...                     deployment_id="d", app="web", strategy="canary",
    ...                     target=Target(canary_name="web-canary"))
    >>> action_for(c)
    'scale_to_zero'
    >>> action_for(c.model_copy(update={"target": Target()}))
    'undo'
    """
    target = command.target
    if target.kind == "argo_rollout":
        return "abort_and_undo" if command.undo else "abort"
    if command.strategy in ("canary", "shadow") and target.canary_name:
        return "scale_to_zero"
    if command.strategy == "blue_green" and target.service_name:
        return "switch_selector"
    return "undo"


def intended_operations(command: RollbackCommand) -> list[dict[str, Any]]:
    """The operations a live backend would send, described for a dry-run record."""
    t = command.target
    name = t.name or command.app
    action = action_for(command)
    common = {
        "namespace": t.namespace,
        "from_revision": command.from_revision,
        "from_version": command.from_version,
        "to_version": command.to_version,
    }
    if action == "scale_to_zero":
        return [
            {"op": "scale", "kind": "Deployment", "name": t.canary_name, "replicas": 0, **common}
        ]
    if action == "switch_selector":
        return [{"op": "switch_selector", "kind": "Service", "name": t.service_name, **common}]
    if action in ("abort", "abort_and_undo"):
        ops = [
            {
                "op": "abort",
                "kind": "Rollout",
                "name": name,
                "patch": {"status": {"abort": True}},
                "subresource": "status",
                **common,
            }
        ]
        if action == "abort_and_undo":
            ops.append({"op": "undo", "kind": "Rollout", "name": name, **common})
        return ops
    return [{"op": "undo", "kind": "Deployment", "name": name, **common}]
