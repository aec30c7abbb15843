"""Session-wide fixtures: ONE real Tansu broker for every integration test.

Tests use unique topic/group names (``tests.runtime.kafka_helpers.unique``) and
``session.timeout.ms=6000`` so consumer-group joins take ~3 s on Tansu.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from smartdeploy.broker import EmbeddedBroker
from tests.runtime.kafka_helpers import create_topics


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a memory-only Tansu broker, killed at session end."""
    with EmbeddedBroker() as broker:
        yield broker.bootstrap


@pytest.fixture
def make_topics(kafka_bootstrap: str) -> Callable[..., list[str]]:
    """``make_topics("a", "b", partitions=2)`` creates topics on the session broker."""

    def _make(*names: str, partitions: int = 1) -> list[str]:
        return create_topics(kafka_bootstrap, names, partitions)

    return _make
