"""Inputs of different topics reach the pipeline in event-time order."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import MetricBatch
from schemas import topics as t
from streams.app import build_worker
from streams.intake import STALL_TICKS, Intake
from streams.ordering import EventTimeMerge
from streams.processor import InputMessage, Processor
from tests.runtime.fakes import T0, RecordingGuard, fake_pipeline, recording_pipeline
from tests.runtime.streams_data import lifecycle
from tests.runtime.worker_util import eventually, publish, worker_settings

streams_st = st.dictionaries(
    st.sampled_from("abcd"), st.lists(st.integers(0, 1000), max_size=30).map(sorted), max_size=4
)


@given(streams_st)
def test_merge_of_time_ordered_partitions_is_time_ordered_and_keeps_each_partition(
    parts: dict[str, list[int]],
) -> None:
    merge: EventTimeMerge[tuple[str, int]] = EventTimeMerge()
    for name, times in parts.items():
        for i, ms in enumerate(times):
            merge.push(name, ms, (name, i), now=0.0)
    out = merge.pop_ready(lagging=lambda _p: False, now=0.0)
    assert len(out) == sum(map(len, parts.values())) and len(merge) == 0
    assert [parts[n][i] for n, i in out] == sorted(ms for ts in parts.values() for ms in ts)
    by_part: dict[str, list[int]] = defaultdict(list)
    for name, i in out:
        by_part[name].append(i)
    assert all(idx == list(range(len(idx))) for idx in by_part.values())


def test_an_empty_lagging_partition_holds_the_others_until_max_wait() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(max_wait_s=2.0)
    merge.watch("events")
    merge.push("metrics", 500, "m", now=10.0)
    assert merge.pop_ready(lagging=lambda p: p == "events", now=11.0) == []
    assert merge.pop_ready(lagging=lambda p: p == "events", now=12.0) == ["m"]


def test_a_full_buffer_releases_even_while_waiting() -> None:
    merge: EventTimeMerge[int] = EventTimeMerge(max_wait_s=60, max_items=2)
    merge.watch("events")
    for i in range(3):
        merge.push("metrics", i, i, now=0.0)
    assert merge.pop_ready(lagging=lambda p: p == "events", now=0.0) == [0]


@pytest.mark.integration
async def test_a_metrics_backlog_does_not_overtake_the_deployment_events(
    kafka_bootstrap: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """All metric batches are published first, the deploy events after them, as when a
    worker catches up on both topics: the guard still sees them in event-time order."""
    s = worker_settings(kafka_bootstrap, tmp_path)
    events = lifecycle(10, "ord")  # requested at T0 + i min, finished 30 s later
    batches = [
        ("web", MetricBatch(occurred_at=T0 + timedelta(minutes=i, seconds=15), app="web"))
        for i in range(10)
    ]
    publish(s, batches, topic=t.METRICS)
    publish(s, events)
    worker = build_worker(s, recording_pipeline)
    await worker.start()
    try:
        await eventually(lambda: worker.stats["inputs"] >= 30)
        guard = worker.pipeline.guard
        assert isinstance(guard, RecordingGuard)
        seen = list(guard.seen)
    finally:
        await worker.stop()
    assert len(seen) == 30
    assert seen == sorted(seen)


def test_a_partition_that_stops_delivering_stops_holding_the_others() -> None:
    """E.g. a trailing transaction marker: the high watermark stays one ahead forever."""
    intake = Intake(Processor(fake_pipeline()))
    events, metrics = (t.DEPLOY_EVENTS, 0), (t.METRICS, 0)
    intake.assign([events, metrics])
    batch = MetricBatch(occurred_at=T0, app="web").model_dump_json().encode()
    intake.receive(InputMessage(t.METRICS, 0, 0, b"web", batch), now=0.0)
    highwater = {events: 5, metrics: 1}.get
    assert intake.ready(highwater, now=0.0) == []
    for _ in range(STALL_TICKS):
        intake.tick()
    assert [p.msg.offset for p in intake.ready(highwater, now=0.0)] == [0]
