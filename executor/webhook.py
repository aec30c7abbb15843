"""Backend that hands the rollback to another system: an HMAC-SHA256-signed POST.

The receiver verifies ``X-Smartdeploy-Signature: sha256=<hex>`` over
``"<X-Smartdeploy-Timestamp>." + body`` with the shared secret (the timestamp inside
the signed bytes stops replays of old requests) and should treat
``Idempotency-Key`` (the command id) as the key of the operation. A 2xx answer may
carry ``{"status": "succeeded" | "already_rolled_back" | "stale"}``; 409 / 429 / 5xx
and connection errors are retried by the executor with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx

from executor.backend import Outcome, TransientError, is_retryable
from executor.config import WebhookConfig
from executor.intent import intended_operations
from schemas.commands import ActionStatus, RollbackCommand

SIGNATURE_HEADER = "X-Smartdeploy-Signature"
TIMESTAMP_HEADER = "X-Smartdeploy-Timestamp"
ACCEPTED_STATUSES = ("succeeded", "already_rolled_back", "stale")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` HMAC of ``timestamp + "." + body``.

    >>> sign("s3cret", "1700000000", b"{}")[:7]
    'sha256='
    """
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float | None = None,
    tolerance_s: float = 300.0,
) -> bool:
    """Receiver side: signature matches (constant time) and timestamp is recent.

    >>> sig = sign("k", "100", b"x")
    >>> verify("k", "100", b"x", sig, now=100), verify("k", "100", b"y", sig, now=100)
    (True, False)
    >>> verify("k", "100", b"x", sig, now=1000)
    False
    """
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookBackend:
    """POSTs the command and its intended operations to ``cfg.url``."""

    name = "webhook"

    def __init__(
        self,
        cfg: WebhookConfig,
        clock: Callable[[], float] = time.time,
        client: httpx.Client | None = None,
    ):
        self.cfg = cfg
        self.clock = clock
        self.client = client or httpx.Client(timeout=cfg.timeout_s)

    def body(self, command: RollbackCommand) -> bytes:
        payload = {
            "type": "smartdeploy.rollback",
            "command": command.model_dump(mode="json"),
            "operations": intended_operations(command),
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()

    def execute(self, command: RollbackCommand) -> Outcome:
        body = self.body(command)
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.cfg.secret, timestamp, body),
            "Idempotency-Key": command.id,
        }
        op = {"op": "post", "url": self.cfg.url, "idempotency_key": command.id}
        try:
            resp = self.client.post(self.cfg.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise TransientError(None, f"{type(exc).__name__}: {exc}") from exc
        if is_retryable(resp.status_code):
            after = resp.headers.get("Retry-After")
            retry_after = float(after) if after and after.isdigit() else None
            raise TransientError(resp.status_code, resp.text[:200], retry_after)
        if not resp.is_success:
            return Outcome("failed", f"webhook answered {resp.status_code}: {resp.text[:200]}")
        status: ActionStatus = "succeeded"
        try:
            answered = resp.json().get("status")
            if answered in ACCEPTED_STATUSES:
                status = answered
        except (ValueError, AttributeError):
            pass
        return Outcome(status, f"webhook answered {resp.status_code}", [op])
