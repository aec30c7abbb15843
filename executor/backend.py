"""The one small Protocol every rollback backend implements, and its vocabulary.

A backend performs ONE attempt: read the target, decide, act. It is safe to call
again after any failure because every attempt starts by reading the target (so a
retry after a 409, or a re-delivery after a crash, sees what is already done).
Retrying is the caller's job (``executor.core``); a backend signals a retryable
failure by raising :class:`TransientError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.commands import ActionStatus, RollbackCommand

#: HTTP statuses worth retrying: conflict (re-read and re-decide), throttling, server errors.
RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})


def is_retryable(status: int | None) -> bool:
    """409 / 429 / 5xx and "no response at all" (``None`` or 0) are retried.

    >>> [is_retryable(s) for s in (409, 429, 500, 599, 404, 422, None)]
    [True, True, True, True, False, False, True]
    """
    return not status or status in RETRYABLE_STATUSES or 500 <= status <= 599


class TransientError(Exception):
    """A failure another attempt may fix (conflict, throttling, 5xx, connection)."""

    def __init__(self, status: int | None, detail: str, retry_after: float | None = None):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


@dataclass
class Outcome:
    """What one backend attempt concluded, with the operations it sent or planned."""

    status: ActionStatus
    detail: str = ""
    operations: list[dict[str, Any]] = field(default_factory=list)
    backend: str = ""


class Backend(Protocol):
    """Executes rollback commands against one kind of system."""

    name: str

    def execute(self, command: RollbackCommand) -> Outcome:
        """One attempt; raise :class:`TransientError` when a retry may succeed."""
        ...


class ByTargetKind:
    """Routes a command to the backend for its ``target.kind`` (deployment / argo_rollout)."""

    name = "kubernetes"

    def __init__(self, backends: dict[str, Backend]):
        self.backends = backends

    def execute(self, command: RollbackCommand) -> Outcome:
        backend = self.backends.get(command.target.kind)
        if backend is None:
            return Outcome("failed", f"no backend for target kind {command.target.kind!r}")
        outcome = backend.execute(command)
        outcome.backend = outcome.backend or backend.name
        return outcome
