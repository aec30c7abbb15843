"""A live worker over a recorded stream decides what replay decides (DESIGN §5)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import topics as t
from smartdeploy.scenario import recorded_stream
from smartdeploy.wiring import build_pipeline
from streams.app import build_worker
from streams.processor import InputMessage, Processor
from tests.runtime.kafka_helpers import read_topic
from tests.runtime.worker_util import eventually, publish, worker_settings

pytestmark = pytest.mark.integration

OUTPUTS = (t.PREDICTIONS, t.DECISIONS, t.KPI, t.VERDICTS, t.ROLLBACKS, t.AUDIT)


async def test_worker_over_a_published_recording_emits_the_replay_outputs(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Metric batches and deploy events are published at once on their two topics (as
    a backlog); the worker must still give the guard deployments before their metrics."""
    stream = recorded_stream(datetime(2026, 10, 1, tzinfo=UTC), seed=11, minutes=40)
    s = worker_settings(kafka_bootstrap, tmp_path, every=200)
    replay = Processor(build_pipeline(s))
    expected: set[tuple[str, str]] = set()
    for i, e in enumerate(stream):
        topic = t.METRICS if e.type == "metrics.batch" else t.DEPLOY_EVENTS  # type: ignore[attr-defined]
        msg = InputMessage(topic, 0, i, None, e.model_dump_json().encode())
        expected |= {(p.topic, json.loads(p.value)["id"]) for p in replay.process(msg)}
    assert any(topic == t.ROLLBACKS for topic, _ in expected)  # the recording has bad canaries

    publish(s, [(e.app, e) for e in stream if e.type == "metrics.batch"], t.METRICS)  # type: ignore[attr-defined]
    publish(s, [(e.app, e) for e in stream if e.type != "metrics.batch"])  # type: ignore[attr-defined]
    worker = build_worker(s, lambda: build_pipeline(s))
    await worker.start()
    try:
        await eventually(lambda: worker.stats["inputs"] >= len(stream), timeout_s=120)
    finally:
        await worker.stop()
    got: set[tuple[str, str]] = set()
    for logical in OUTPUTS:
        msgs = await asyncio.to_thread(
            read_topic, kafka_bootstrap, s.kafka_topic_prefix + logical, lambda _m: False, 2.0
        )
        got |= {(logical, json.loads(m.value() or b"")["id"]) for m in msgs}
    want = {(topic, i) for topic, i in expected if topic in OUTPUTS}
    assert sorted(want - got)[:10] == [] and sorted(got - want)[:10] == []
