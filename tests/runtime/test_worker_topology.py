"""The worker across broker restarts and scale-out: positions stay truthful."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from smartdeploy.broker import EmbeddedBroker
from streams.app import build_worker
from tests.runtime.fakes import CountingPredictor, fake_pipeline
from tests.runtime.streams_data import lifecycle
from tests.runtime.worker_util import eventually, publish, worker_settings

pytestmark = pytest.mark.integration


def _learned(handle: object) -> Counter[str]:
    pred = handle.pipeline.predictor  # type: ignore[attr-defined]
    assert isinstance(pred, CountingPredictor)
    return pred.learned


async def test_a_recreated_broker_does_not_make_new_messages_look_learned(
    tmp_path: Path,
) -> None:
    """The embedded broker is memory-only: after its restart offsets start at 0 again,
    below the checkpoint's positions; the new topic ids void those positions."""
    with EmbeddedBroker() as first_broker:
        s = worker_settings(first_broker.bootstrap, tmp_path)
        publish(s, lifecycle(6, "old"))
        worker = build_worker(s, fake_pipeline)
        await worker.start()
        await eventually(lambda: worker.stats["inputs"] >= 12)
        await worker.stop()
    with EmbeddedBroker() as second_broker:
        s = s.model_copy(update={"kafka_bootstrap": second_broker.bootstrap})
        publish(s, lifecycle(2, "new"))
        worker = build_worker(s, fake_pipeline)
        await worker.start()
        try:
            await eventually(lambda: worker.stats["inputs"] >= 12 + 4)
            learned = _learned(worker)
        finally:
            await worker.stop()
    assert {d for d in learned if d.startswith("new")} == {"new-0", "new-1"}
    assert sum(learned.values()) == 8 and max(learned.values()) == 1


async def test_a_second_worker_takes_over_partitions_without_relearning(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Scale-out: on rebalance the first worker checkpoints and commits, so the new
    owner of a partition starts exactly where the first one's state ends."""
    s = worker_settings(kafka_bootstrap, tmp_path / "a")
    events = lifecycle(40, "so")
    publish(s, events[:40])
    a = build_worker(s, fake_pipeline)
    await a.start()
    b = build_worker(s.model_copy(update={"data_dir": tmp_path / "b"}), fake_pipeline)
    try:
        await eventually(lambda: a.stats["inputs"] >= 40)
        await b.start()
        publish(s, events[40:])
        await eventually(
            lambda: sum((_learned(a) + _learned(b)).values()) >= 40
            and b.stats["inputs"] > 0, timeout_s=90
        )
        total = _learned(a) + _learned(b)
        b_inputs = b.stats["inputs"]
    finally:
        await b.stop()
        await a.stop()
    assert set(total) == {f"so-{i}" for i in range(40)}
    assert max(total.values()) == 1
    assert b_inputs > 0 and a.checkpoints_written >= 1
