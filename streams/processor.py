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

    def process(self, msg: InputMessage) -> list[Produced]:
        """Handle one message; ``[]`` also for one the state already covers."""
        tp = (msg.topic, msg.partition)
        if msg.offset < self.positions.get(tp, 0):
            self.counts["skipped_covered"] += 1
            return []
        out = self._outputs(msg)
        self.positions[tp] = msg.offset + 1
        self.inputs += 1
        self.since_checkpoint += 1
        self.counts["inputs"] += 1
        return out

    def _outputs(self, msg: InputMessage) -> list[Produced]:
        logical = self.names.logical(msg.topic)
        parser = PARSERS.get(logical)
        raw = msg.value or b""
        try:
            if parser is None:
                raise ValueError(f"topic: {msg.topic!r} is not an input topic")
            parsed = parser(raw)
        except Exception as exc:  # noqa: BLE001 - any parse failure is a poison message
            return [self._dead(msg, "parse", exc)]
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
            return [self._dead(msg, "process", exc)]

    def _dead(self, msg: InputMessage, stage: str, exc: BaseException) -> Produced:
        self.counts[f"dead_letters_{stage}"] += 1
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
        return Checkpoint(self.pipeline.snapshot(), dict(self.positions), self.inputs)

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
