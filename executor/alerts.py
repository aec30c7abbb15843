"""Notification when a rollback could not be executed: Slack-compatible JSON POST.

``text`` is what Slack / Mattermost / Teams-compatible incoming webhooks show; the
structured ``smartdeploy`` object is for machine receivers (Alertmanager-style
relays, the tests). Sending never raises: a broken alert channel must not stop
the executor, it is logged instead.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import httpx

from schemas.commands import ActionResult, RollbackCommand

log = logging.getLogger(__name__)


class Alerter(Protocol):
    def alert(self, command: RollbackCommand, result: ActionResult) -> None: ...


class NoAlerter:
    """Used when no alert URL is configured: the failure is only logged."""

    def alert(self, command: RollbackCommand, result: ActionResult) -> None:
        log.error("rollback %s failed: %s", command.id, result.detail)


def alert_payload(command: RollbackCommand, result: ActionResult) -> dict[str, Any]:
    """The JSON body: Slack's ``text`` plus a structured copy."""
    t = command.target
    name = t.name or command.app
    text = (
        f":rotating_light: smartdeploy could not roll back *{command.app}* "
        f"({t.kind} {t.namespace}/{name}, deployment {command.deployment_id}) after "
        f"{result.attempts} attempts: {result.detail}"
    )
    return {
        "text": text,
        "smartdeploy": {
            "command_id": command.id,
            "action_id": result.id,
            "deployment_id": command.deployment_id,
            "app": command.app,
            "status": result.status,
            "attempts": result.attempts,
            "detail": result.detail,
            "target": t.model_dump(mode="json"),
        },
    }


class WebhookAlerter:
    """POSTs :func:`alert_payload` to ``url`` with a few quick retries."""

    def __init__(self, url: str, attempts: int = 3, timeout_s: float = 5.0):
        self.url = url
        self.attempts = attempts
        self.client = httpx.Client(timeout=timeout_s)

    def alert(self, command: RollbackCommand, result: ActionResult) -> None:
        payload = alert_payload(command, result)
        for attempt in range(1, self.attempts + 1):
            try:
                resp = self.client.post(self.url, json=payload)
                if resp.is_success:
                    return
                log.warning(
                    "alert POST %s answered %s (try %d)", self.url, resp.status_code, attempt
                )
            except httpx.HTTPError as exc:
                log.warning("alert POST %s failed (try %d): %s", self.url, attempt, exc)
        log.error("could not deliver alert for command %s", command.id)
