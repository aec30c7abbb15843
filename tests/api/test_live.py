"""Live feed (ordering, bounded queues, replay) and the detail cache it keeps fresh."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.live import CachedReader, InMemoryLiveFeed
from tests.api.conftest import T0
from tests.api.demo import full_deployment, requested
from tests.api.fakes import FakeHistory


@given(st.lists(st.integers(), max_size=40), st.integers(min_value=1, max_value=10))
def test_subscriber_gets_records_in_order_keeping_the_newest_when_full(
    values: list[int], size: int
) -> None:
    async def run() -> list[int]:
        feed = InMemoryLiveFeed(queue_size=size)
        sub = feed.subscribe()
        for v in values:
            feed.publish({"v": v})
        await asyncio.sleep(0)  # let call_soon_threadsafe deliveries run
        got = []
        while (event := await sub.next(0.001)) is not None:
            got.append(event.record["v"])
        sub.close()
        return got

    got = asyncio.run(run())
    assert got == values[-size:] if values else got == []


@given(st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=30))
def test_replay_returns_the_most_recent_records(published: int, replay: int) -> None:
    async def run() -> list[int]:
        feed = InMemoryLiveFeed(history=10)
        for v in range(published):
            feed.publish({"v": v})
        sub = feed.subscribe(replay=replay)
        got = []
        while (event := await sub.next(0.001)) is not None:
            got.append(event.record["v"])
        return got

    expect = list(range(published))[-min(replay, 10, published) :] if replay and published else []
    assert asyncio.run(run()) == expect


def test_closed_subscription_stops_receiving() -> None:
    async def run() -> int:
        feed = InMemoryLiveFeed()
        sub = feed.subscribe()
        sub.close()
        feed.publish({"v": 1})
        return feed.subscriber_count

    assert asyncio.run(run()) == 0


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cached(history: FakeHistory, **kw: float) -> tuple[CachedReader, _Clock]:
    clock = _Clock()
    return CachedReader(history, clock=clock, **kw), clock  # type: ignore[arg-type]


def _history(n: int = 3) -> FakeHistory:
    history = FakeHistory()
    for i in range(n):
        for rec in full_deployment(f"d{i}", "web", T0 + timedelta(minutes=i), steps=2):
            history.add(rec)
    return history


def test_cache_serves_finished_deployments_from_memory() -> None:
    history = _history()
    cache, clock = _cached(history)
    first = cache.get_deployment("d1")
    history.fail = ConnectionError("store down")
    clock.now += 60
    assert cache.get_deployment("d1") == first
    assert (cache.hits, cache.misses) == (1, 1)


def test_live_record_invalidates_its_deployment_only() -> None:
    history = _history()
    feed = InMemoryLiveFeed()
    cache, _ = _cached(history)
    feed.add_listener(cache.invalidate)
    cache.get_deployment("d0")
    cache.get_deployment("d1")
    history.add({"type": "override", "deployment_id": "d1", "action": "hold", "reason": "x",
                 "actor": "a", "occurred_at": "2026-12-01T00:00:00Z", "id": "o1"})
    feed.publish({"type": "override", "deployment_id": "d1"})
    assert cache.get_deployment("d1")["timeline"][-1]["type"] == "override"  # type: ignore[index]
    cache.get_deployment("d0")
    assert (cache.hits, cache.misses) == (1, 3)


def test_recently_changed_entries_expire_quickly() -> None:
    """The feed may beat the history writer: a re-read right after a change is short-lived."""
    history = _history()
    cache, clock = _cached(history, ttl_active_s=1.0, settle_s=5.0)
    cache.invalidate({"deployment_id": "d2"})
    cache.get_deployment("d2")
    clock.now += 2
    cache.get_deployment("d2")
    assert cache.misses == 2
    clock.now += 10  # settled: the finished deployment is cached for long
    cache.get_deployment("d2")
    clock.now += 100
    cache.get_deployment("d2")
    assert (cache.hits, cache.misses) == (1, 3)


def test_in_flight_deployments_use_the_short_ttl() -> None:
    history = FakeHistory()
    for rec in requested("live-1", "web", T0):
        history.add(rec)
    cache, clock = _cached(history, ttl_active_s=1.0)
    cache.get_deployment("live-1")
    clock.now += 0.5
    cache.get_deployment("live-1")
    clock.now += 1.0
    cache.get_deployment("live-1")
    assert (cache.hits, cache.misses) == (1, 2)


def test_cache_evicts_least_recently_used_and_warms_newest() -> None:
    history = _history(5)
    cache, _ = _cached(history, max_entries=3)
    assert cache.warm(10) == 3
    assert list(cache._entries) == ["d2", "d3", "d4"]  # the newest, newest most recently used
    cache.get_deployment("d2")
    cache.get_deployment("d0")
    assert list(cache._entries) == ["d4", "d2", "d0"]


def test_rendered_answer_is_encoded_once_per_version() -> None:
    history = _history()
    cache, _ = _cached(history)
    calls: list[str] = []

    def render(row: dict[str, object]) -> bytes:
        calls.append(str(row["deployment_id"]))
        return b"x"

    assert cache.get_rendered("d0", render) == cache.get_rendered("d0", render) == b"x"
    assert cache.get_rendered("nope", render) is None
    assert calls == ["d0"]


def test_peek_answers_only_fresh_encoded_hits() -> None:
    history = _history()
    cache, clock = _cached(history, ttl_active_s=1.0, settle_s=5.0)
    assert cache.peek_rendered("d0") is None  # never loaded: the caller goes to the store
    cache.get_rendered("d0", lambda row: b"body")
    assert cache.peek_rendered("d0") == b"body"
    cache.invalidate({"deployment_id": "d0"})
    assert cache.peek_rendered("d0") is None
    cache.get_rendered("d0", lambda row: b"new")
    clock.now += 2  # just changed: the short TTL applies
    assert cache.peek_rendered("d0") is None
