"""Ingest configuration: a small frozen value, built from Settings by smartdeploy/wire_ingest.py.

api/ must not import the Settings object, so the router takes this instead; tests
build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from api.ingest.decode import LabelMap
from schemas.topics import METRICS


@dataclass(frozen=True)
class IngestConfig:
    """Everything ``build_ingest_router`` needs besides the producer.

    ``await_ack``: answer 204 only after Kafka acknowledged every batch of the request
    (the at-least-once promise Prometheus relies on: on a broker failure it gets a 503
    and retries). Turning it off answers as soon as the batches are queued in the
    producer, trading that promise for latency.
    """

    labels: LabelMap = field(default_factory=LabelMap)
    topic: str = METRICS
    max_bytes: int = 32 * 1024 * 1024
    max_batch_bytes: int = 512 * 1024  # an app's JSON is split past this (Kafka message size)
    bearer_token: str | None = None
    basic_user: str | None = None
    basic_password: str | None = None
    await_ack: bool = True
    ack_timeout_s: float = 30.0
    retry_after_s: int = 1
    native: bool = True
    # Bodies this large (snappy bytes) decode in the threads below, smaller ones inline on
    # the event loop: a typical 2,000-sample body takes ~0.5 ms with the series cache, less
    # than the hand-off to a thread and back (bench-ingest: 14 % less CPU per sample), while
    # a body of tens of thousands of series would hold up every other request for longer.
    offload_min_bytes: int = 1024 * 1024
    # GIL-free decode threads for the large bodies: two keep both cores of a small host busy
    decode_threads: int = 2
    # label sets remembered by the native decoder (~700 bytes each, at most 64 MB):
    # a series seen before skips mapping and label JSON, 3x faster encoding (0 = off)
    series_cache: int = 65536

    @property
    def auth_required(self) -> bool:
        return bool(self.bearer_token or self.basic_user)
