"""The worker's synchronous core: dead letters, positions, exactly-once across restores."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas import topics as t
from streams.checkpoint import Checkpoint
from streams.pipeline import Pipeline
from streams.processor import InputMessage, Processor
from streams.topics import TopicNames
from tests.runtime.fakes import EXPLODING, CountingPredictor, digest, fake_pipeline
from tests.runtime.streams_data import lifecycle

TOPIC = t.DEPLOY_EVENTS


def _msgs(events: Sequence[tuple[str, BaseModel]], topic: str = TOPIC) -> list[InputMessage]:
    return [
        InputMessage(topic, 0, i, key.encode(), ev.model_dump_json().encode(), 1000 * i)
        for i, (key, ev) in enumerate(events)
    ]


def _raw(offset: int, value: bytes, topic: str = TOPIC) -> InputMessage:
    return InputMessage(topic, 0, offset, b"web", value, 0)


def _letter(proc: Processor, msg: InputMessage) -> dict[str, object]:
    (out,) = proc.process(msg)
    assert out.topic == t.DLQ
    return json.loads(out.value)  # type: ignore[no-any-return]


def test_not_json_is_dead_lettered_with_the_original_payload() -> None:
    letter = _letter(Processor(fake_pipeline()), _raw(3, b"{oops"))
    assert letter["stage"] == "parse" and "JSONDecodeError" in str(letter["error"])
    assert letter["payload"] == "{oops" and letter["offset"] == 3


def test_schema_invalid_event_is_dead_lettered_naming_the_missing_field() -> None:
    doc = {
        "type": "deployment.requested",
        "occurred_at": "2026-01-01T00:00:00Z",
        "deployment_id": "d1",
        "version": "1",
    }
    letter = _letter(Processor(fake_pipeline()), _raw(0, json.dumps(doc).encode()))
    assert "deployment.requested.app" in str(letter["error"])


def test_unknown_type_and_invalid_override_are_dead_lettered() -> None:
    proc = Processor(fake_pipeline())
    unknown = _letter(proc, _raw(0, b'{"type": "deployment.exploded"}'))
    assert "deployment.exploded" in str(unknown["error"])
    override = _letter(proc, _raw(0, b'{"type": "override", "action": "hold"}', t.OVERRIDES))
    assert "deployment_id" in str(override["error"])


def test_binary_payload_is_kept_as_base64() -> None:
    letter = _letter(Processor(fake_pipeline()), _raw(0, b"\xff\xfe"))
    assert letter["payload_encoding"] == "base64" and letter["payload"] == "//4="


def test_processor_exception_is_dead_lettered_and_the_next_event_still_processed() -> None:
    events = lifecycle(2, "ok")
    boom = lifecycle(1, EXPLODING)[0][1].model_copy(update={"deployment_id": EXPLODING})
    proc = Processor(fake_pipeline())
    (letter,) = proc.process(_msgs([("web", boom)])[0])
    assert json.loads(letter.value)["stage"] == "process"
    assert "guard exploded" in json.loads(letter.value)["error"]
    outs = [o for m in _msgs(events) for o in proc.process(m)]
    assert {o.topic for o in outs} == {t.PREDICTIONS, t.DECISIONS, t.MODEL_METRICS}


def test_outputs_go_to_prefixed_topics_keyed_by_app() -> None:
    proc = Processor(fake_pipeline(), TopicNames("dev."))
    (req, _fin) = _msgs(lifecycle(1, "p"), "dev." + TOPIC)
    outs = proc.process(req)
    assert [(o.topic, o.key) for o in outs] == [
        ("dev." + t.PREDICTIONS, b"web"),
        ("dev." + t.DECISIONS, b"web"),
    ]


def test_messages_the_checkpoint_covers_are_skipped() -> None:
    msgs = _msgs(lifecycle(3, "s"))
    proc = Processor(fake_pipeline(), positions={(TOPIC, 0): 4})
    produced = [proc.process(m) for m in msgs]
    assert produced[:4] == [[], [], [], []] and all(produced[4:])
    assert proc.positions[(TOPIC, 0)] == 6 and proc.counts["skipped_covered"] == 4


def test_checkpoint_is_due_every_n_inputs() -> None:
    proc = Processor(fake_pipeline(), checkpoint_every=3)
    due = []
    for m in _msgs(lifecycle(3, "c")):
        proc.process(m)
        due.append(proc.checkpoint_due())
        if due[-1]:
            proc.checkpoint()
    assert due == [False, False, True, False, False, True]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 25),
    every=st.integers(1, 9),
    crashes=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=4),
)
def test_every_label_is_learned_once_whatever_the_crashes(
    n: int, every: int, crashes: list[tuple[int, int]]
) -> None:
    """Crash anywhere, restore the last checkpoint, let Kafka redeliver from any offset
    at or before the checkpoint position: the state equals an uninterrupted run's."""
    msgs = _msgs(lifecycle(n, "h"))
    reference = fake_pipeline()
    for m in msgs:
        proc_ref = Processor(reference)
        proc_ref.process(m)
    stored: Checkpoint | None = None
    proc = Processor(fake_pipeline(), checkpoint_every=every)
    cursor = 0
    for crash_after, rewind in crashes:
        for m in msgs[cursor : cursor + crash_after]:
            proc.process(m)
            if proc.checkpoint_due():
                stored = Checkpoint.from_bytes(proc.checkpoint().to_bytes())
        proc = Processor.resume(stored, fake_pipeline, checkpoint_every=every)
        position = proc.positions.get((TOPIC, 0), 0)
        cursor = max(0, position - rewind)  # committed offsets never run ahead
    for m in msgs[cursor:]:
        proc.process(m)
    pred = proc.pipeline.predictor
    assert isinstance(pred, CountingPredictor)
    assert set(pred.learned) == {f"h-{i}" for i in range(n)}
    assert digest(proc.pipeline) == digest(reference)
    assert max(pred.predicted.values()) == 1


def test_resume_without_checkpoint_uses_the_factory() -> None:
    proc = Processor.resume(None, fake_pipeline)
    assert isinstance(proc.pipeline, Pipeline) and proc.positions == {} and proc.inputs == 0
