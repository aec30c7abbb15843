"""Fixtures of the executor tests: the in-test API server, receivers, commands."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from executor.backend import Backend, ByTargetKind
from executor.config import KubeConfig, RetryPolicy
from executor.core import Executor
from executor.kube import api_client
from executor.ledger import Ledger
from schemas.commands import RollbackCommand
from schemas.deploy import Target
from tests.executor.fake_kube import FakeKube
from tests.executor.receiver import Receiver

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def kube(fake: FakeKube) -> Backend:
    """The real backends behind the real kubernetes client, pointed at the fake server."""
    from executor.argo import ArgoRolloutBackend
    from executor.k8s_deployment import DeploymentBackend

    cfg = KubeConfig(host=fake.url, request_timeout_s=5)
    api = api_client(cfg)
    return ByTargetKind(
        {"deployment": DeploymentBackend(api, cfg), "argo_rollout": ArgoRolloutBackend(api, cfg)}
    )


class Sleeps(list[float]):
    """Records requested sleeps instead of sleeping (unit tests never wait)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def make_executor(tmp_path: Path) -> Iterator[Callable[..., Executor]]:
    """Executors with a ledger under tmp_path (``state`` picks another dir), no real sleeps."""
    made: list[Executor] = []

    def _make(backend: Backend, state: Path | None = None, **kw: Any) -> Executor:
        kw.setdefault("retry", RetryPolicy(max_attempts=4, base_s=0.05, cap_s=0.2))
        kw.setdefault("sleep", Sleeps())
        kw.setdefault("rng", random.Random(7))
        kw.setdefault("clock", lambda: T0)
        made.append(Executor(backend, Ledger(state or tmp_path / "state"), **kw))
        return made[-1]

    yield _make
    for executor in made:
        executor.ledger.close()


def command(**kw: Any) -> RollbackCommand:
    """A rollback command for app ``web``; keyword arguments override fields."""
    kw.setdefault("id", "cmd-1")
    kw.setdefault("occurred_at", T0)
    kw.setdefault("deployment_id", "dep-42")
    kw.setdefault("app", "web")
    kw.setdefault("from_version", "v3")
    kw.setdefault("to_version", "v2")
    kw.setdefault("reason", "error rate 12% > 5% for 120s")
    if isinstance(kw.get("target"), dict):
        kw["target"] = Target(**kw["target"])
    return RollbackCommand(**kw)
