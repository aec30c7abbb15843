"""``smartdeploy replay``: the live processors over a recorded stream, no broker.

Each input line is one message as it travelled on Kafka (a deploy event, a
CDEvent, a ``MetricBatch`` or an ``Override``). Outputs are written as JSON
lines ``{"topic", "key", "value"}`` in the order the pipeline decided them.
Nothing reads the wall clock, ids are derived from inputs, so the same input
gives byte-identical output. Lines that do not parse become DLQ records, as
they would live.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas import MetricBatch, Override, parse_deploy_event
from schemas import topics as t
from streams.deadletter import dead_letter
from streams.pipeline import Output, Pipeline


def parse_input(doc: Any) -> BaseModel:
    """Parse one recorded input message by its ``type``; raise naming the field."""
    if not isinstance(doc, dict):
        raise ValueError("message: expected a JSON object")
    kind = doc.get("type")
    if kind == "metrics.batch":
        return MetricBatch.model_validate(doc)
    if kind == "override":
        return Override.model_validate(doc)
    return parse_deploy_event(doc)


def output_line(out: Output) -> str:
    """One output as a JSON line; byte-stable for equal records."""
    return (
        f'{{"topic":{json.dumps(out.topic)},"key":{json.dumps(out.key)},'
        f'"value":{out.record.model_dump_json()}}}'
    )


def dlq_line(lineno: int, raw: str, error: Exception, at: datetime | None) -> str:
    """The dead letter a live worker would publish for this line (event time: the last input's)."""
    letter = dead_letter(
        topic="replay",
        partition=0,
        offset=lineno,
        key=None,
        value=raw.encode("utf-8"),
        timestamp_ms=int(at.timestamp() * 1000) if at else 0,
        stage="parse",
        error=error,
    )
    return output_line(Output(t.DLQ, "", letter))


@dataclass
class ReplayStats:
    inputs: int = 0
    outputs: int = 0
    dead_letters: int = 0
    out_of_order: int = 0


def replay(
    lines: Iterable[str],
    pipeline: Pipeline,
    write: Callable[[str], None],
    progress: Callable[[ReplayStats], None] | None = None,
) -> ReplayStats:
    """Run ``pipeline`` over recorded lines, writing every output line via ``write``."""
    stats = ReplayStats()
    last: datetime | None = None
    for lineno, raw in enumerate(lines, start=1):
        raw = raw.strip()
        if not raw:
            continue
        stats.inputs += 1
        try:
            msg = parse_input(json.loads(raw))
        except (ValueError, ValidationError) as exc:
            stats.dead_letters += 1
            write(dlq_line(lineno, raw, exc, last))
            continue
        when = msg.occurred_at  # type: ignore[attr-defined]
        if last is not None and when < last:
            stats.out_of_order += 1
        last = when if last is None or when > last else last
        for out in pipeline.handle(msg):
            stats.outputs += 1
            write(output_line(out))
        if progress is not None and stats.inputs % 1000 == 0:
            progress(stats)
    return stats
