"""Metric batches: many samples of many series in one Kafka message.

A trivial Faust agent handles ~13k messages/s per core, so metrics must travel
as batches (one message per remote-write request and app), never one per sample.
Values may be ``None`` for Prometheus staleness markers / NaN (JSON has no NaN).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.base import Envelope

Track = Literal["stable", "canary", "baseline"]


class Series(BaseModel):
    """One time series: metric name, its labels, and parallel timestamp/value arrays."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    deployment_id: str | None = None
    version: str | None = None
    track: Track = "stable"
    timestamps_ms: list[int]
    values: list[float | None]

    @model_validator(mode="after")
    def _same_length(self) -> Series:
        if len(self.timestamps_ms) != len(self.values):
            raise ValueError("timestamps_ms and values must have the same length")
        return self


class MetricBatch(Envelope):
    """All samples of one app from one ingest request (``occurred_at`` = newest sample)."""

    type: Literal["metrics.batch"] = "metrics.batch"
    app: str = Field(min_length=1)
    source: str = "remote_write"
    series: list[Series] = Field(default_factory=list)

    def sample_count(self) -> int:
        return sum(len(s.values) for s in self.series)
