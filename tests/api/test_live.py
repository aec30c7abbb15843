"""In-memory live feed: ordering, bounded queues, replay (properties via Hypothesis)."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from api.live import InMemoryLiveFeed


@given(st.lists(st.integers(), max_size=40), st.integers(min_value=1, max_value=10))
def test_subscriber_gets_records_in_order_keeping_the_newest_when_full(
        values: list[int], size: int) -> None:
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

    expect = list(range(published))[-min(replay, 10, published):] if replay and published else []
    assert asyncio.run(run()) == expect


def test_closed_subscription_stops_receiving() -> None:
    async def run() -> int:
        feed = InMemoryLiveFeed()
        sub = feed.subscribe()
        sub.close()
        feed.publish({"v": 1})
        return feed.subscriber_count

    assert asyncio.run(run()) == 0
