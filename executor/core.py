"""The executor's decision logic, one command at a time, without Kafka.

``Executor.handle(command)`` is the whole contract the Kafka loop relies on:

1. a command id already in the ledger -> the stored result again (no API call);
2. an operator hold on the deployment blocks it unless the command is forced (or a
   ``force_rollback`` override exists for the deployment) -> ``blocked``;
3. otherwise the backend runs, retried with backoff and jitter on transient
   failures (409 re-reads and re-decides), up to the policy's bound -> ``failed``
   plus an alert;
4. a final result (succeeded, already_rolled_back, stale, dry_run) is written to the
   ledger before it is returned; the loop syncs the ledger, publishes, and only then
   commits the offset.

``blocked`` and ``failed`` changed nothing, so they are not final: they stay out of
the ledger and the same command id (re-delivered, or re-issued by the guard after
a release / force, which derives the same id) is evaluated again. Result and audit
ids derive from the command id, so a re-delivered command produces the same ids
and downstream consumers deduplicate; the non-final outcomes get ids of their own
(``blocked`` per hold, ``failed``) so the final result of a later run is never
mistaken for a duplicate of them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from executor.alerts import Alerter, NoAlerter
from executor.backend import Backend, Outcome, TransientError
from executor.config import RetryPolicy
from executor.ledger import Ledger
from schemas import derived_id
from schemas.commands import ActionResult, AuditRecord, Override, RollbackCommand

log = logging.getLogger(__name__)

#: outcomes that changed nothing: not recorded as done, re-evaluated on re-delivery
NON_FINAL = frozenset({"blocked", "failed"})


@dataclass
class Handled:
    """What the loop publishes for one command; ``replayed`` = answered from the ledger."""

    result: ActionResult
    audit: AuditRecord
    replayed: bool = False


def audit_for(command: RollbackCommand, result: ActionResult) -> AuditRecord:
    """The audit record of a result (id derived from the result's, actor ``executor``)."""
    return AuditRecord(
        id=derived_id(result.id, "audit"),
        occurred_at=result.occurred_at,
        actor="executor",
        action=f"rollback.{result.status}",
        subject=command.deployment_id,
        reason=command.reason or result.detail,
        details={
            "command_id": command.id,
            "action_id": result.id,
            "deployment_id": command.deployment_id,
            "status": result.status,
            "app": command.app,
            "backend": result.backend,
            "attempts": result.attempts,
            "detail": result.detail,
            "operations": result.operations,
            "target": command.target.model_dump(mode="json"),
            "forced": command.forced,
            "requested_by": command.requested_by,
        },
    )


class Executor:
    """Applies overrides and executes commands exactly once in effect."""

    def __init__(
        self,
        backend: Backend,
        ledger: Ledger,
        retry: RetryPolicy | None = None,
        alerter: Alerter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.backend = backend
        self.ledger = ledger
        self.retry = retry or RetryPolicy()
        self.alerter = alerter or NoAlerter()
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.holds: dict[str, Override] = {}
        self.forces: dict[str, Override] = {}

    def apply_override(self, override: Override) -> None:
        """hold / release / force_rollback for one deployment; later overrides win.

        A force lets commands for the deployment through a hold until the next hold
        or release.
        """
        dep = override.deployment_id
        if override.action == "hold":
            self.holds[dep] = override
            self.forces.pop(dep, None)
        elif override.action == "release":
            self.holds.pop(dep, None)
            self.forces.pop(dep, None)
        else:
            self.forces[dep] = override

    def handle(self, command: RollbackCommand) -> Handled:
        """Execute (or recognise as done) one command; see the module docstring."""
        done = self.ledger.get(command.id)
        if done is not None:
            return Handled(done, audit_for(command, done), replayed=True)
        hold = self.holds.get(command.deployment_id)
        force = self.forces.get(command.deployment_id)
        if hold is not None and not command.forced and force is None:
            outcome = Outcome("blocked", f"held by {hold.actor}: {hold.reason}")
            attempts = 0
            result_id = derived_id(command.id, "action", "blocked", hold.id)
        else:
            outcome, attempts = self._run(command)
            suffix = (outcome.status,) if outcome.status in NON_FINAL else ()
            result_id = derived_id(command.id, "action", *suffix)
        result = ActionResult(
            id=result_id,
            occurred_at=self.clock(),
            command_id=command.id,
            deployment_id=command.deployment_id,
            app=command.app,
            backend=outcome.backend or self.backend.name,
            status=outcome.status,
            detail=outcome.detail,
            attempts=attempts,
            operations=outcome.operations,
        )
        if result.status == "failed":
            self.alerter.alert(command, result)
        if result.status not in NON_FINAL:
            self.ledger.record(result)
        return Handled(result, audit_for(command, result))

    def _run(self, command: RollbackCommand) -> tuple[Outcome, int]:
        """The backend with bounded retries; never raises."""
        last = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                return self.backend.execute(command), attempt
            except TransientError as exc:
                last = f"{exc.status or 'no response'}: {exc.detail}"
                log.warning("command %s attempt %d: %s", command.id, attempt, last)
                if attempt < self.retry.max_attempts:
                    self.sleep(self.retry.delay(attempt, self.rng, exc.retry_after))
            except Exception as exc:  # a bug or unexpected answer: record it, do not crash
                log.exception("command %s: backend error", command.id)
                return Outcome("failed", f"{type(exc).__name__}: {exc}"), attempt
        return (
            Outcome("failed", f"gave up after {self.retry.max_attempts} attempts; last: {last}"),
            self.retry.max_attempts,
        )
