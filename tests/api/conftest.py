"""Fixtures: an API on in-memory fakes, with auth on and one token per role."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import AuthConfig
from api.deps import ApiDeps
from api.live import InMemoryLiveFeed
from tests.api.demo import full_deployment
from tests.api.fakes import FakeHistory, FakePublisher, MemoryPolicyStore

TOKENS = {"tok-viewer": "viewer:vera", "tok-operator": "operator:olga", "tok-admin": "admin:ada"}
INGEST = "tok-ingest"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def bearer(role: str) -> dict[str, str]:
    token = INGEST if role == "ingest" else f"tok-{role}"
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def history() -> FakeHistory:
    store = FakeHistory()
    apps = ["checkout", "search", "billing"]
    for i in range(7):
        for rec in full_deployment(f"dep-{i}", apps[i % 3], T0 + timedelta(minutes=i), steps=3):
            store.add(rec)
    return store


@pytest.fixture
def live() -> InMemoryLiveFeed:
    return InMemoryLiveFeed()


@pytest.fixture
def publisher(history: FakeHistory) -> FakePublisher:
    return FakePublisher(history)


@pytest.fixture
def policies() -> MemoryPolicyStore:
    return MemoryPolicyStore(
        "apps:\n  checkout:\n    kpis:\n      - {name: error_rate, max: 0.02}\n"
    )


@pytest.fixture
def make_client(
    history: FakeHistory,
    publisher: FakePublisher,
    live: InMemoryLiveFeed,
    policies: MemoryPolicyStore,
) -> Callable[..., TestClient]:
    def make(**overrides: Any) -> TestClient:
        fields: dict[str, Any] = dict(
            reader=history,
            publisher=publisher,
            live=live,
            policies=policies,
            auth=AuthConfig(tokens=TOKENS, ingest_tokens=[INGEST]),
        )
        fields.update(overrides)
        return TestClient(create_app(ApiDeps(**fields)), raise_server_exceptions=False)

    return make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
