"""A worker killed between checkpoints resumes with every label learned exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import BaseModel

from schemas import topics as t
from smartdeploy.settings import Settings
from streams.checkpoint import CheckpointStore
from streams.pipeline import Pipeline
from streams.processor import InputMessage, Processor
from tests.runtime.fakes import CountingPredictor, digest, fake_pipeline
from tests.runtime.kafka_helpers import read_topic
from tests.runtime.streams_data import lifecycle
from tests.runtime.worker_util import eventually, publish, worker_settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EVERY = 7


def _spawn(s: Settings) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTDEPLOY_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "SMARTDEPLOY_KAFKA_BOOTSTRAP": s.kafka_bootstrap or "",
            "SMARTDEPLOY_KAFKA_TOPIC_PREFIX": s.kafka_topic_prefix,
            "SMARTDEPLOY_DATA_DIR": str(s.data_dir),
            "SMARTDEPLOY_MODEL_CHECKPOINT_EVERY": str(s.model_checkpoint_every),
            "SMARTDEPLOY_KAFKA_SESSION_TIMEOUT_MS": str(s.kafka_session_timeout_ms),
            "SMARTDEPLOY_KAFKA_PARTITIONS": str(s.kafka_partitions),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.worker_main"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def _store(s: Settings) -> CheckpointStore:
    name = f"{s.kafka_topic_prefix}smartdeploy-streams.ckpt"
    return CheckpointStore(s.data_dir / "checkpoints" / name)


def _output_ids(bootstrap: str, topic: str) -> list[str]:
    msgs = read_topic(bootstrap, topic, until=lambda _m: False, timeout_s=1.5)
    return [json.loads(m.value() or b"")["id"] for m in msgs]


async def _outputs(bootstrap: str, s: Settings) -> list[str]:
    prefix = s.kafka_topic_prefix
    ids: list[str] = []
    for logical in (t.PREDICTIONS, t.DECISIONS, t.MODEL_METRICS):
        ids += await asyncio.to_thread(_output_ids, bootstrap, prefix + logical)
    return ids


def _reference(events: Sequence[tuple[str, BaseModel]]) -> tuple[Pipeline, set[str]]:
    """The uninterrupted run: the same processor over the same inputs, no broker."""
    proc = Processor(fake_pipeline())
    ids: set[str] = set()
    for i, (key, ev) in enumerate(events):
        value = ev.model_dump_json().encode()
        msg = InputMessage(t.DEPLOY_EVENTS, 0, i, key.encode(), value)
        ids |= {json.loads(p.value)["id"] for p in proc.process(msg)}
    return proc.pipeline, ids


async def test_sigkill_between_checkpoints_then_restart_learns_each_label_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    s = worker_settings(kafka_bootstrap, tmp_path, every=EVERY)
    events = lifecycle(30, "rk")
    first_part = 40  # 5 inputs past the checkpoint at 35
    publish(s, events[:first_part])
    reference, reference_ids = _reference(events)
    first_ids = {i for i in _reference(events[:first_part])[1]}

    worker = _spawn(s)
    try:

        async def first_done() -> bool:
            return set(await _outputs(kafka_bootstrap, s)) >= first_ids

        await _wait_async(first_done, 90)
        await eventually(lambda: (c := _store(s).load()) is not None and c.inputs == 35)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # a crash: no final checkpoint
        worker.wait()
    assert worker.returncode == -signal.SIGKILL
    crashed_at = _store(s).load()
    assert crashed_at is not None and crashed_at.inputs == 35 < first_part

    publish(s, events[first_part:])
    worker = _spawn(s)
    try:

        async def all_done() -> bool:
            return set(await _outputs(kafka_bootstrap, s)) >= reference_ids

        await _wait_async(all_done, 90)
        os.killpg(worker.pid, signal.SIGTERM)  # clean stop: final checkpoint
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()

    final = _store(s).load()
    assert final is not None and final.inputs == len(events)
    restored = Pipeline.restore(final.blob)
    pred = restored.predictor
    assert isinstance(pred, CountingPredictor)
    assert set(pred.learned.values()) == {1} and len(pred.learned) == 30
    assert set(pred.predicted.values()) == {1}
    assert digest(restored) == digest(reference)
    published = await _outputs(kafka_bootstrap, s)
    assert set(published) == reference_ids
    # the uncheckpointed inputs really were processed twice (once lost with the crash)
    assert len(published) > len(reference_ids)


async def _wait_async(check, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached within {timeout_s}s")
        await asyncio.sleep(0.2)
