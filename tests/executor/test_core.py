"""The executor's decision logic, one command at a time, with scripted backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor.backend import Outcome, TransientError
from executor.config import RetryPolicy
from executor.core import Executor
from executor.dry_run import DryRunBackend
from schemas import derived_id
from schemas.commands import RollbackCommand
from tests.executor.conftest import T0, Sleeps, command

MakeExecutor = Callable[..., Executor]


class Scripted:
    """A backend that replays a script of outcomes / exceptions and counts calls."""

    name = "scripted"

    def __init__(self, *script: Outcome | Exception):
        self.script = list(script)
        self.calls: list[str] = []

    def execute(self, cmd: RollbackCommand) -> Outcome:
        self.calls.append(cmd.id)
        step = self.script.pop(0) if self.script else Outcome("succeeded", "ok")
        if isinstance(step, Exception):
            raise step
        return step


def override(action: str, dep: str = "dep-42", oid: str = "o1") -> object:
    from schemas.commands import Override

    return Override(
        id=oid,
        occurred_at=T0,
        deployment_id=dep,
        action=action,  # type: ignore
        reason="investigating",
        actor="alice@sre",
    )


def test_hold_blocks_without_calling_the_backend(make_executor: MakeExecutor) -> None:
    backend = Scripted()
    ex = make_executor(backend)
    ex.apply_override(override("hold"))  # type: ignore[arg-type]
    handled = ex.handle(command())

    assert handled.result.status == "blocked" and backend.calls == []
    assert "alice@sre" in handled.result.detail and handled.result.attempts == 0
    assert handled.audit.action == "rollback.blocked" and handled.audit.actor == "executor"


def test_blocked_command_runs_when_reissued_after_release(make_executor: MakeExecutor) -> None:
    """The guard re-issues the same command id after a release: it must execute then."""
    backend = Scripted()
    ex = make_executor(backend)
    ex.apply_override(override("hold"))  # type: ignore[arg-type]
    blocked = ex.handle(command()).result
    again = ex.handle(command()).result  # re-delivered while still held
    ex.apply_override(override("release", oid="o2"))  # type: ignore[arg-type]
    done = ex.handle(command()).result

    assert (blocked.status, again.status, done.status) == ("blocked", "blocked", "succeeded")
    assert blocked.id == again.id != done.id == derived_id("cmd-1", "action")
    assert backend.calls == ["cmd-1"]


def test_failed_command_is_tried_again_on_redelivery(make_executor: MakeExecutor) -> None:
    backend = Scripted(Outcome("failed", "403 forbidden"))
    ex = make_executor(backend)
    failed, later = ex.handle(command()).result, ex.handle(command()).result
    assert (failed.status, later.status) == ("failed", "succeeded")
    assert failed.id != later.id and len(backend.calls) == 2


def test_hold_on_another_deployment_does_not_block(make_executor: MakeExecutor) -> None:
    ex = make_executor(Scripted())
    ex.apply_override(override("hold", dep="other"))  # type: ignore[arg-type]
    assert ex.handle(command()).result.status == "succeeded"


def test_release_lifts_the_hold(make_executor: MakeExecutor) -> None:
    ex = make_executor(Scripted())
    ex.apply_override(override("hold"))  # type: ignore[arg-type]
    ex.apply_override(override("release", oid="o2"))  # type: ignore[arg-type]
    assert ex.handle(command()).result.status == "succeeded"


def test_forced_command_executes_despite_hold(make_executor: MakeExecutor) -> None:
    backend = Scripted()
    ex = make_executor(backend)
    ex.apply_override(override("hold"))  # type: ignore[arg-type]
    result = ex.handle(command(forced=True, requested_by="bob")).result
    assert result.status == "succeeded" and backend.calls == ["cmd-1"]


def test_force_override_executes_despite_hold(make_executor: MakeExecutor) -> None:
    backend = Scripted()
    ex = make_executor(backend)
    ex.apply_override(override("hold"))  # type: ignore[arg-type]
    ex.apply_override(override("force_rollback", oid="o2"))  # type: ignore[arg-type]
    assert ex.handle(command()).result.status == "succeeded" and backend.calls == ["cmd-1"]


def test_a_later_hold_wins_over_an_earlier_force(make_executor: MakeExecutor) -> None:
    ex = make_executor(Scripted())
    ex.apply_override(override("force_rollback"))  # type: ignore[arg-type]
    ex.apply_override(override("hold", oid="o2"))  # type: ignore[arg-type]
    assert ex.handle(command()).result.status == "blocked"


def test_ledger_survives_a_restart(make_executor: MakeExecutor, tmp_path: Path) -> None:
    first_backend, second_backend = Scripted(), Scripted()
    first = make_executor(first_backend, state=tmp_path / "s").handle(command())
    second = make_executor(second_backend, state=tmp_path / "s").handle(command())

    assert second.replayed and second.result == first.result
    assert second_backend.calls == []


def test_torn_ledger_line_is_ignored_and_later_records_still_parse(
    make_executor: MakeExecutor, tmp_path: Path
) -> None:
    state = tmp_path / "s"
    make_executor(Scripted(), state=state).handle(command(id="a"))
    with (state / "executed.jsonl").open("a") as f:
        f.write('{"type": "action.res')  # crash mid-write
    make_executor(Scripted(), state=state).handle(command(id="b"))
    ex = make_executor(Scripted(), state=state)
    assert ex.ledger.get("a") is not None and ex.ledger.get("b") is not None


def test_transient_errors_are_retried_with_bounded_jittered_backoff(
    make_executor: MakeExecutor,
) -> None:
    backend = Scripted(TransientError(503, "x"), TransientError(429, "y", retry_after=0.15))
    sleeps = Sleeps()
    ex = make_executor(
        backend, retry=RetryPolicy(max_attempts=5, base_s=0.1, cap_s=1.0), sleep=sleeps
    )
    result = ex.handle(command()).result

    assert result.status == "succeeded" and result.attempts == 3
    assert 0 <= sleeps[0] <= 0.1
    assert 0.15 <= sleeps[1] <= 0.2  # Retry-After is a floor


def test_unexpected_backend_error_is_a_failed_result(make_executor: MakeExecutor) -> None:
    result = make_executor(Scripted(RuntimeError("boom"))).handle(command()).result
    assert result.status == "failed" and "boom" in result.detail


def test_dry_run_records_the_planned_operations(make_executor: MakeExecutor) -> None:
    ex = make_executor(DryRunBackend())
    canary = ex.handle(
        command(id="c1", strategy="canary", target={"canary_name": "web-canary"})
    ).result
    argo = ex.handle(
        command(id="c2", target={"kind": "argo_rollout", "name": "web-ro"}, undo=True)
    ).result
    plain = ex.handle(command(id="c3", from_revision="7")).result

    assert {canary.status, argo.status, plain.status} == {"dry_run"}
    assert (
        canary.operations[0] | {"op": "scale", "name": "web-canary", "replicas": 0}
        == canary.operations[0]
    )
    assert [o["op"] for o in argo.operations] == ["abort", "undo"]
    assert argo.operations[0]["patch"] == {"status": {"abort": True}}
    assert plain.operations[0]["op"] == "undo" and plain.operations[0]["from_revision"] == "7"


def test_result_and_audit_ids_derive_from_the_command(make_executor: MakeExecutor) -> None:
    handled = make_executor(Scripted()).handle(command(id="abc"))
    assert handled.result.id == derived_id("abc", "action")
    assert handled.audit.id == derived_id(handled.result.id, "audit")
    assert handled.audit.details["command_id"] == "abc"
    assert handled.audit.subject == "dep-42"


@given(
    statuses=st.lists(st.sampled_from([409, 429, 500, 502, 503, 504, None]), max_size=8),
    max_attempts=st.integers(1, 6),
)
def test_attempts_never_exceed_the_bound(
    statuses: list[int | None], max_attempts: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from executor.ledger import Ledger

    backend = Scripted(*[TransientError(s, "t") for s in statuses])
    ex = Executor(
        backend,
        Ledger(tmp_path_factory.mktemp("l")),
        RetryPolicy(max_attempts=max_attempts, base_s=0.01, cap_s=0.05),
        sleep=lambda s: None,
    )
    result = ex.handle(command()).result

    assert len(backend.calls) == result.attempts <= max_attempts
    expected = "succeeded" if len(statuses) < max_attempts else "failed"
    assert result.status == expected
