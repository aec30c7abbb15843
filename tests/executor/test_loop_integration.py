"""ExecutorLoop on the real (Tansu) broker with the in-test Kubernetes API server."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from executor.backend import Backend
from executor.config import ExecutorConfig, RetryPolicy
from executor.core import Executor
from executor.ledger import Ledger
from executor.loop import ExecutorLoop
from schemas import derived_id
from schemas.commands import ActionResult, AuditRecord, Override, RollbackCommand
from tests.executor.conftest import T0, command
from tests.executor.fake_kube import FakeKube, add_deployment, pod_template
from tests.runtime.kafka_helpers import SESSION_TIMEOUT_MS, read_topic, unique

pytestmark = pytest.mark.integration


class Crash(Exception):
    """Stands in for the process dying at a chosen point."""


@pytest.fixture
def cfg(
    kafka_bootstrap: str, make_topics: Callable[..., list[str]], tmp_path: Path
) -> ExecutorConfig:
    rollbacks, overrides, actions, audit, dlq = make_topics(
        unique("rollbacks"),
        unique("overrides"),
        unique("actions"),
        unique("audit"),
        unique("dlq"),
    )
    return ExecutorConfig(
        kafka={"bootstrap.servers": kafka_bootstrap},
        rollbacks_topic=rollbacks,
        overrides_topic=overrides,
        actions_topic=actions,
        audit_topic=audit,
        dlq_topic=dlq,
        group_id=unique("executor"),
        session_timeout_ms=SESSION_TIMEOUT_MS,
        poll_timeout_s=0.2,
        state_dir=tmp_path / "state",
        retry=RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.05),
    )


def publish(bootstrap: str, topic: str, *values: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value=value, key=b"web")
    assert producer.flush(10) == 0


def start(loop: ExecutorLoop) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()

    def run() -> None:
        with contextlib.suppress(Crash):
            loop.run(stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return stop, thread


@pytest.fixture
def running() -> Iterator[list[tuple[threading.Event, threading.Thread]]]:
    loops: list[tuple[threading.Event, threading.Thread]] = []
    yield loops
    for stop, thread in loops:
        stop.set()
        thread.join(30)


def results(bootstrap: str, topic: str, n: int) -> list[ActionResult]:
    msgs = read_topic(bootstrap, topic, n, timeout_s=60)
    return [ActionResult.model_validate_json(m.value() or b"") for m in msgs]


def test_loop_executes_once_honours_holds_and_publishes_results(
    cfg: ExecutorConfig, fake: FakeKube, kube: Backend, kafka_bootstrap: str, running: list
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    add_deployment(fake, "api", ["v1", "v2"])
    hold = Override(
        id="h1",
        occurred_at=T0,
        deployment_id="dep-api",
        action="hold",
        reason="db migration running",
        actor="alice",
    )
    web = command(id="c-web", from_revision="3")
    api = command(id="c-api", deployment_id="dep-api", app="api", from_revision="2")
    publish(
        kafka_bootstrap,
        cfg.rollbacks_topic,
        web.model_dump_json().encode(),
        web.model_dump_json().encode(),
        b'{"not": "a command"}',
        api.model_dump_json().encode(),
    )
    # the hold lands on its topic after the command: the loop catches up on overrides
    # before executing, so the order across topics does not matter
    publish(kafka_bootstrap, cfg.overrides_topic, hold.model_dump_json().encode())

    loop = ExecutorLoop(cfg, Executor(kube, Ledger(cfg.state_dir), cfg.retry))
    running.append(start(loop))
    got = results(kafka_bootstrap, cfg.actions_topic, 3)

    assert [(r.command_id, r.status) for r in got] == [
        ("c-web", "succeeded"),
        ("c-web", "succeeded"),
        ("c-api", "blocked"),
    ]
    assert got[0].id == got[1].id == derived_id("c-web", "action")  # downstream dedups
    assert len(fake.patches()) == 1
    assert fake.get("deployments", "web")["spec"]["template"] == pod_template("web", "v2")
    assert fake.get("deployments", "api")["spec"]["template"] == pod_template("api", "v2")
    audits = [
        AuditRecord.model_validate_json(m.value() or b"")
        for m in read_topic(kafka_bootstrap, cfg.audit_topic, 3)
    ]
    assert {(a.actor, a.action) for a in audits} == {
        ("executor", "rollback.succeeded"),
        ("executor", "rollback.blocked"),
    }
    (dead,) = read_topic(kafka_bootstrap, cfg.dlq_topic, 1)
    assert dead.value() == b'{"not": "a command"}'


def test_crash_between_patch_and_offset_commit_does_not_patch_twice(
    cfg: ExecutorConfig,
    fake: FakeKube,
    kube: Backend,
    kafka_bootstrap: str,
    running: list,
    tmp_path: Path,
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    cmd = command(id="c-crash", from_revision="3")
    publish(kafka_bootstrap, cfg.rollbacks_topic, cmd.model_dump_json().encode())

    def die(_: RollbackCommand) -> None:
        raise Crash

    crashing = ExecutorLoop(cfg, Executor(kube, Ledger(tmp_path / "lost"), cfg.retry), die)
    stop, thread = start(crashing)
    running.append((stop, thread))
    thread.join(60)
    assert not thread.is_alive() and len(fake.patches()) == 1  # patched, then died
    fake.reconcile_deployment("web")

    # the replacement starts on a new disk: only the target itself can say "done"
    survivor = ExecutorLoop(cfg, Executor(kube, Ledger(tmp_path / "new"), cfg.retry))
    running.append(start(survivor))
    (result,) = results(kafka_bootstrap, cfg.actions_topic, 1)

    assert result.status == "already_rolled_back" and result.command_id == "c-crash"
    assert len(fake.patches()) == 1
