"""Dead letters: inputs the worker could not use, kept with the reason instead of a crash.

A poison message (not JSON, schema-invalid, unknown type, or one that made a
processor raise) must neither stop the partition behind it nor vanish: it goes to
``smartdeploy.dlq`` with where it came from, why it failed (the validation text
names the field) and the original payload, so an operator can fix and re-send it.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from schemas.base import derived_id
from schemas.deadletter import DeadLetter

MAX_ERROR_CHARS = 4000


def describe(error: BaseException) -> str:
    """One line per problem, each naming the field path (pydantic's text is verbose).

    >>> from schemas import Override
    >>> try:
    ...     Override.model_validate({"occurred_at": "2026-01-01T00:00:00Z"})
    ... except ValidationError as exc:
    ...     print(describe(exc).splitlines()[1])
    deployment_id: Field required
    """
    if isinstance(error, ValidationError):
        lines = [f"ValidationError ({error.error_count()} problem(s) in {error.title})"]
        for problem in error.errors(include_url=False):
            where = ".".join(str(part) for part in problem["loc"])
            if not where:  # a discriminated union names no field when the tag is bad
                where = "type" if problem["type"].startswith("union_tag") else "(message)"
            lines.append(f"{where}: {problem['msg']}")
        return "\n".join(lines)
    return f"{type(error).__name__}: {error}"


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    timestamp_ms: int | None,
    stage: Literal["parse", "process"],
    error: BaseException | str,
) -> DeadLetter:
    """Build the dead letter of one Kafka message (event time = the message timestamp).

    >>> d = dead_letter(topic="t", partition=0, offset=7, key=b"web", value=b"\\xff",
    ...                 timestamp_ms=0, stage="parse", error=ValueError("bad"))
    >>> d.payload, d.payload_encoding, d.error, d.occurred_at.year
    ('/w==', 'base64', 'ValueError: bad', 1970)
    >>> d.id == dead_letter(topic="t", partition=0, offset=7, key=None, value=b"",
    ...                     timestamp_ms=5, stage="parse", error="x").id
    True
    """
    raw = value or b""
    try:
        payload, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    text = error if isinstance(error, str) else describe(error)
    when = datetime.fromtimestamp(max(timestamp_ms or 0, 0) / 1000, UTC)
    return DeadLetter(
        id=derived_id(topic, partition, offset, "dead.letter"),
        occurred_at=when,
        source_topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode("utf-8", "replace") if key is not None else None,
        stage=stage,
        error=text[:MAX_ERROR_CHARS],
        payload=payload,
        payload_encoding=encoding,  # type: ignore[arg-type]
    )
