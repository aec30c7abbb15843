"""Dead letters: inputs that could not be used, kept with the reason instead of a crash."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import Envelope


class DeadLetter(Envelope):
    """One rejected input; ``id`` derives from its position, so re-delivery dedups."""

    type: Literal["dead.letter"] = "dead.letter"
    source_topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key: str | None = None
    stage: Literal["parse", "process"]
    error: str
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
