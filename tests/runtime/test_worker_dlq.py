"""Poison messages go to the dead-letter topic and the worker keeps going."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from schemas import DeploymentRequested
from schemas import topics as t
from streams.app import build_worker
from tests.runtime.fakes import EXPLODING, digest, fake_pipeline
from tests.runtime.kafka_helpers import read_topic
from tests.runtime.streams_data import lifecycle
from tests.runtime.worker_util import eventually, publish, worker_settings

pytestmark = pytest.mark.integration


async def test_poison_messages_are_dead_lettered_and_later_events_still_processed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    s = worker_settings(kafka_bootstrap, tmp_path)
    missing_app = {
        "type": "deployment.requested",
        "occurred_at": "2026-01-01T00:00:00Z",
        "deployment_id": "bad-1",
        "version": "1.0",
    }
    req, fin = (ev for _key, ev in lifecycle(1, "good"))
    assert isinstance(req, DeploymentRequested)
    boom = req.model_copy(update={"deployment_id": EXPLODING, "id": "boom"})
    publish(
        s,
        [  # one key = one partition, so the valid events come strictly after
            ("web", b"this is not json"),
            ("web", json.dumps(missing_app).encode()),
            ("web", b'{"type": "deployment.teleported"}'),
            ("web", boom),
            ("web", req),
            ("web", fin),
        ],
    )
    handle = build_worker(s, fake_pipeline)
    await handle.start()
    try:
        await eventually(lambda: handle.stats["inputs"] >= 6)
        assert digest(handle.pipeline)["labels"] == 1
    finally:
        await handle.stop()
    prefix = s.kafka_topic_prefix
    letters = [
        json.loads(m.value() or b"")
        for m in await asyncio.to_thread(read_topic, kafka_bootstrap, prefix + t.DLQ, 4)
    ]
    by_offset = {d["offset"]: d for d in letters}
    assert sorted(by_offset) == [0, 1, 2, 3]
    assert "JSONDecodeError" in by_offset[0]["error"]
    assert "deployment.requested.app: Field required" in by_offset[1]["error"]
    assert "deployment.teleported" in by_offset[2]["error"]
    assert by_offset[3]["stage"] == "process" and "guard exploded" in by_offset[3]["error"]
    assert by_offset[0]["payload"] == "this is not json"
    assert {d["source_topic"] for d in letters} == {prefix + t.DEPLOY_EVENTS}
    (prediction,) = await asyncio.to_thread(read_topic, kafka_bootstrap, prefix + t.PREDICTIONS, 1)
    assert json.loads(prediction.value() or b"")["request_id"] == req.id
    assert prediction.key() == b"web"


async def test_clean_restart_resumes_after_the_checkpoint_without_rereading(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    s = worker_settings(kafka_bootstrap, tmp_path, every=1000)
    events = lifecycle(12, "cr")
    publish(s, events[:10])
    first = build_worker(s, fake_pipeline)
    await first.start()
    await eventually(lambda: first.stats["inputs"] >= 10)
    await first.stop()  # final checkpoint + committed offsets
    publish(s, events[10:])
    second = build_worker(s, fake_pipeline)
    await second.start()
    try:
        await eventually(lambda: second.stats["inputs"] >= len(events))
        state = digest(second.pipeline)
        counts = second.stats["counts"]
    finally:
        await second.stop()
    assert state["labels"] == 12 and state["max_learns_per_deployment"] == 1
    assert counts.get("inputs") == len(events) - 10
    # the group offsets were committed with the checkpoint: nothing had to be skipped
    assert counts.get("skipped_covered", 0) == 0
