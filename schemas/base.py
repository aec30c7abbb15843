"""Common envelope for every event, command and record.

Every message smartdeploy reads or writes carries a schema version, a unique id
(idempotency key for history inserts and the executor) and an event-time
timestamp in UTC. Decisions use ``occurred_at``, never the wall clock, so a
replay of a recorded stream reproduces the live decisions.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def _to_utc(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC; aware ones are converted to UTC."""
    if value.tzinfo is UTC:  # the usual case (ms_to_dt): nothing to convert
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_to_utc)]


def new_id() -> str:
    """A random event id for events created at the edge (CI, API, demo)."""
    return uuid.uuid4().hex


_NAMESPACE = uuid.NAMESPACE_URL.bytes  # of derived ids (uuid5 over a URL name)


def derived_id(*parts: Any) -> str:
    """A deterministic id for an output derived from inputs.

    Processors derive output ids from the ids of the inputs that caused them, so
    the same input stream always yields the same output ids (replay is
    byte-identical and re-delivery deduplicates downstream).

    >>> derived_id("abc", "prediction") == derived_id("abc", "prediction")
    True
    >>> len(derived_id("x"))
    32
    >>> derived_id("a", 1) == uuid.uuid5(uuid.NAMESPACE_URL, "smartdeploy:a/1").hex
    True
    """
    name = "smartdeploy:" + "/".join(map(str, parts))
    raw = bytearray(hashlib.sha1(_NAMESPACE + name.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # RFC 4122 version 5 ...
    raw[8] = (raw[8] & 0x3F) | 0x80  # ... and variant: uuid.uuid5(NAMESPACE_URL, name).hex
    return raw.hex()


class Envelope(BaseModel):
    """Fields shared by every message."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    id: str = Field(default_factory=new_id, min_length=1, max_length=128)
    occurred_at: UtcDateTime
