"""The synchronous heart of the worker: one Kafka message in, records to publish out.

Kept free of Faust and asyncio so it is unit-testable and so one call is atomic
with respect to checkpoints: parsing, ``Pipeline.handle``, routing and the
position update happen without yielding to the event loop. A checkpoint taken
between two calls therefore covers exactly the inputs whose outputs were queued.

It also decides what is already in the state: a message below the checkpoint
position of its partition was learned before the restart and is skipped.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from schemas import MetricBatch, Override, parse_deploy_event
from schemas import topics as t
from streams.checkpoint import TP, Checkpoint
from streams.deadletter import dead_letter
from streams.pipeline import Pipeline
from streams.topics import TopicNames

log = logging.getLogger(__name__)

Parser = Callable[[bytes], BaseModel]

#: How each input topic's bytes become a typed message.
PARSERS: dict[str, Parser] = {
    t.DEPLOY_EVENTS: parse_deploy_event,
    t.METRICS: MetricBatch.model_validate_json,
    t.OVERRIDES: Override.model_validate_json,
}
INPUT_TOPICS: tuple[str, ...] = tuple(PARSERS)


@dataclass(frozen=True)
class InputMessage:
    """The parts of a consumed Kafka message the worker uses."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Produced:
    """A message to publish (already serialised)."""

    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class Prepared:
    """A consumed message, parsed (or its dead letter), with its event time."""

    msg: InputMessage
    parsed: BaseModel | None
    dead: Produced | None
    event_ms: int


class Processor:
    """Parse → ``Pipeline.handle`` → serialised outputs, with positions and dead letters."""

    def __init__(
        self,
        pipeline: Pipeline,
        names: TopicNames | None = None,
        positions: Mapping[TP, int] | None = None,
        inputs: int = 0,
        checkpoint_every: int = 500,
    ) -> None:
        self.pipeline = pipeline
        self.names = names or TopicNames()
        self.positions: dict[TP, int] = dict(positions or {})
        self.inputs = inputs
        self.checkpoint_every = checkpoint_every
        self.since_checkpoint = 0
        self.counts: Counter[str] = Counter()
        #: Kafka topic ids the positions refer to (stored with each checkpoint)
        self.topic_ids: dict[str, str] = {}

    def process(self, msg: InputMessage) -> list[Produced]:
        """Handle one message; ``[]`` also for one the state already covers."""
        prepared = self.prepare(msg)
        return self.apply(prepared) if prepared is not None else []

    def covered(self, msg: InputMessage) -> bool:
        """True when the restored state already contains this message's effect."""
        return msg.offset < self.positions.get((msg.topic, msg.partition), 0)

    def prepare(self, msg: InputMessage) -> Prepared | None:
        """Parse (no state change); None for a message the state already covers."""
        if self.covered(msg):
            self.counts["skipped_covered"] += 1
            return None
        logical = self.names.logical(msg.topic)
        parser = PARSERS.get(logical)
        try:
            if parser is None:
                raise ValueError(f"topic: {msg.topic!r} is not an input topic")
            parsed = parser(msg.value or b"")
        except Exception as exc:  # noqa: BLE001 - any parse failure is a poison message
            return Prepared(msg, None, self._dead(msg, "parse", exc), msg.timestamp_ms or 0)
        when = getattr(parsed, "occurred_at", None)
        event_ms = int(when.timestamp() * 1000) if when is not None else msg.timestamp_ms or 0
        return Prepared(msg, parsed, None, event_ms)

    def apply(self, prepared: Prepared) -> list[Produced]:
        """Run the pipeline on a prepared message and advance its partition's position."""
        msg = prepared.msg
        if self.covered(msg):
            self.counts["skipped_covered"] += 1
            return []
        if prepared.parsed is None:
            assert prepared.dead is not None
            self.counts["dead_letters_parse"] += 1
            out = [prepared.dead]
        else:
            out = self._handle(msg, prepared.parsed)
        self.positions[(msg.topic, msg.partition)] = msg.offset + 1
        self.inputs += 1
        self.since_checkpoint += 1
        self.counts["inputs"] += 1
        return out

    def _handle(self, msg: InputMessage, parsed: BaseModel) -> list[Produced]:
        try:
            outputs = self.pipeline.handle(parsed)
            return [
                Produced(
                    self.names.of(o.topic), o.key.encode(), o.record.model_dump_json().encode()
                )
                for o in outputs
            ]
        except Exception as exc:  # noqa: BLE001 - a processor bug must not stop the stream
            log.exception("processing %s[%d]@%d failed", msg.topic, msg.partition, msg.offset)
            self.counts["dead_letters_process"] += 1
            return [self._dead(msg, "process", exc)]

    def _dead(self, msg: InputMessage, stage: str, exc: BaseException) -> Produced:
        letter = dead_letter(
            topic=msg.topic, partition=msg.partition, offset=msg.offset, key=msg.key,
            value=msg.value, timestamp_ms=msg.timestamp_ms,
            stage="parse" if stage == "parse" else "process", error=exc,
        )
        return Produced(self.names.of(t.DLQ), msg.key or b"", letter.model_dump_json().encode())

    def checkpoint_due(self) -> bool:
        return self.since_checkpoint >= self.checkpoint_every

    def checkpoint(self) -> Checkpoint:
        """Snapshot the state and the positions it covers (resets the due counter)."""
        self.since_checkpoint = 0
        return Checkpoint(
            self.pipeline.snapshot(), dict(self.positions), self.inputs, dict(self.topic_ids)
        )

    @classmethod
    def resume(
        cls,
        checkpoint: Checkpoint | None,
        factory: Callable[[], Pipeline],
        names: TopicNames | None = None,
        checkpoint_every: int = 500,
    ) -> Processor:
        """From a checkpoint (state + positions), or a fresh pipeline when there is none."""
        if checkpoint is None:
            return cls(factory(), names, checkpoint_every=checkpoint_every)
        return cls(
            Pipeline.restore(checkpoint.blob), names, checkpoint.offsets, checkpoint.inputs,
            checkpoint_every,
        )
