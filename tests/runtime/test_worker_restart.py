"""A worker killed between checkpoints resumes with every label learned exactly once.

The worker runs as a subprocess (``tests.runtime.worker_main``) so it can be
SIGKILLed: no final checkpoint, outputs of the last inputs already published.
After a restart on the same data dir, the final model state must equal that of an
uninterrupted run over the same inputs (the processor without a broker): with the
counting fakes every deployment learned exactly once; with the real models (one
partition, so the order is the same) the same label counts and the same answers
to probe requests.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from schemas import DeploymentRequested
from schemas import topics as t
from smartdeploy.settings import Settings
from smartdeploy.wiring import build_pipeline
from streams.app import checkpoint_store
from streams.pipeline import Pipeline
from streams.processor import InputMessage, Processor
from tests.runtime.fakes import CountingPredictor, digest, fake_pipeline
from tests.runtime.kafka_helpers import read_topic
from tests.runtime.streams_data import lifecycle
from tests.runtime.worker_util import eventually, publish, worker_settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EVERY = 7
FIRST = 40  # inputs before the crash: 5 past the checkpoint at 35


def _spawn(s: Settings, models: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTDEPLOY_")}
    env.update({
        "PYTHONPATH": str(ROOT),
        "SMARTDEPLOY_TEST_MODELS": models,
        "SMARTDEPLOY_KAFKA_BOOTSTRAP": s.kafka_bootstrap or "",
        "SMARTDEPLOY_KAFKA_TOPIC_PREFIX": s.kafka_topic_prefix,
        "SMARTDEPLOY_DATA_DIR": str(s.data_dir),
        "SMARTDEPLOY_MODEL_CHECKPOINT_EVERY": str(s.model_checkpoint_every),
        "SMARTDEPLOY_KAFKA_SESSION_TIMEOUT_MS": str(s.kafka_session_timeout_ms),
        "SMARTDEPLOY_KAFKA_PARTITIONS": str(s.kafka_partitions),
    })
    return subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.worker_main"], cwd=ROOT, env=env,
        start_new_session=True,
    )


def _output_ids(bootstrap: str, topic: str) -> list[str]:
    msgs = read_topic(bootstrap, topic, until=lambda _m: False, timeout_s=1.5)
    return [json.loads(m.value() or b"")["id"] for m in msgs]


async def _outputs(bootstrap: str, s: Settings) -> list[str]:
    ids: list[str] = []
    for logical in (t.PREDICTIONS, t.DECISIONS, t.MODEL_METRICS):
        ids += await asyncio.to_thread(_output_ids, bootstrap, s.kafka_topic_prefix + logical)
    return ids


def _reference(
    events: Sequence[tuple[str, BaseModel]], factory: Callable[[], Pipeline]
) -> tuple[Pipeline, set[str]]:
    """The uninterrupted run: the same processor over the same inputs, no broker."""
    proc = Processor(factory())
    ids: set[str] = set()
    for i, (key, ev) in enumerate(events):
        msg = InputMessage(t.DEPLOY_EVENTS, 0, i, key.encode(), ev.model_dump_json().encode())
        ids |= {json.loads(p.value)["id"] for p in proc.process(msg)}
    return proc.pipeline, ids


def _real_digest(pipeline: Pipeline) -> dict[str, Any]:
    """Label counts and the model's answers to probe requests (pickles are not canonical)."""
    pred: Any = pipeline.predictor
    probes = [ev for _key, ev in lifecycle(6, "probe") if isinstance(ev, DeploymentRequested)]
    return {
        "labels": pred.labels, "failures": pred.failures, "ignored": dict(pred.ignored),
        "answers": [pred.what_if(r).p_failure for r in probes],
    }


async def _wait_async(check: Callable[[], Any], timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached within {timeout_s}s")
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("models", ["fake", "real"])
async def test_sigkill_between_checkpoints_then_restart_learns_each_label_once(
    kafka_bootstrap: str, tmp_path: Path, models: str
) -> None:
    s = worker_settings(kafka_bootstrap, tmp_path, every=EVERY)
    if models == "real":
        s = s.model_copy(update={"kafka_partitions": 1})
    factory = fake_pipeline if models == "fake" else (lambda: build_pipeline(s))
    store = checkpoint_store(s)
    events = lifecycle(30, "rk")
    publish(s, events[:FIRST])
    reference, reference_ids = _reference(events, factory)
    first_ids = _reference(events[:FIRST], factory)[1]

    worker = _spawn(s, models)
    try:
        async def first_done() -> bool:
            return set(await _outputs(kafka_bootstrap, s)) >= first_ids

        await _wait_async(first_done, 90)
        await eventually(lambda: (c := store.load()) is not None and c.inputs == 35)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # a crash: no final checkpoint
        worker.wait()
    assert worker.returncode == -signal.SIGKILL
    crashed_at = store.load()
    assert crashed_at is not None and crashed_at.inputs == 35 < FIRST

    publish(s, events[FIRST:])
    worker = _spawn(s, models)
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

    final = store.load()
    assert final is not None and final.inputs == len(events)
    restored = Pipeline.restore(final.blob)
    if models == "fake":
        pred = restored.predictor
        assert isinstance(pred, CountingPredictor)
        assert set(pred.learned.values()) == {1} and len(pred.learned) == 30
        assert set(pred.predicted.values()) == {1}
        assert digest(restored) == digest(reference)
    else:
        assert _real_digest(restored) == _real_digest(reference)
        assert _real_digest(restored)["labels"] == 30
    published = await _outputs(kafka_bootstrap, s)
    assert set(published) == reference_ids
    # the uncheckpointed inputs really were processed twice (once lost with the crash)
    assert len(published) > len(reference_ids)
