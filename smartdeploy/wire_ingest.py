"""Builds the remote-write ingest router and its Kafka producer from Settings.

The producer batches for throughput (linger ~5 ms, lz4) and, because the router
answers 204 only after Kafka acknowledged a request's batches, it is tuned for
bounded waits: a full local queue makes the router answer 503 + Retry-After (never
a silent drop) and a message Kafka cannot take within ``delivery.timeout.ms``
fails its request, which Prometheus then retries.

A request hops between threads (the event loop and the Kafka delivery-report thread,
plus a GIL-free decode thread for bodies of ``remote_write_offload_bytes`` or more);
with CPython's default 5 ms GIL switch interval every hop can stall up to 5 ms, so
``build_router`` lowers it to 1 ms for the process (measured with the bench when every
body went to a decode thread: Kafka ack wait 26 → 20 ms, throughput +40 %).

It also caps glibc's malloc arenas at two: decode threads and librdkafka's threads
otherwise each grow an arena of their own, and the process's RSS creeps up for
minutes before it levels off (5-minute soak of the bench: +25 % without the cap, +0.7 %
with it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import sys
from typing import Any

from confluent_kafka import Producer
from fastapi import APIRouter

from api.ingest import IngestConfig, LabelMap, build_ingest_router
from schemas.topics import METRICS
from smartdeploy.settings import Settings

#: GIL switch interval for a process that serves remote-write (see module docstring).
SWITCH_INTERVAL_S = 0.001

#: glibc malloc arenas for the ingest process (see module docstring).
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h


def cap_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (as ``MALLOC_ARENA_MAX`` would); False off glibc."""
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


#: librdkafka settings of the ingest producer (on top of Settings.kafka_config()).
PRODUCER_DEFAULTS: dict[str, Any] = {
    "linger.ms": 5,
    "compression.type": "lz4",
    "batch.size": 1_000_000,  # stays under a default Kafka broker's message.max.bytes
    "queue.buffering.max.messages": 100_000,
    "queue.buffering.max.kbytes": 256 * 1024,
    "delivery.timeout.ms": 20_000,
    "acks": "all",
    "enable.idempotence": False,
}


def ingest_config(settings: Settings) -> IngestConfig:
    """The router's config from Settings (labels, allow-list, limits, credentials)."""
    token = settings.ingest_token.get_secret_value() if settings.ingest_token else None
    password = settings.remote_write_basic_password
    return IngestConfig(
        labels=LabelMap(
            app=settings.label_app,
            version=settings.label_version,
            track=settings.label_track,
            deployment_id=settings.label_deployment_id,
            metric_allow=settings.metric_allow,
        ),
        max_bytes=settings.remote_write_max_bytes,
        decode_threads=settings.remote_write_decode_threads,
        offload_min_bytes=settings.remote_write_offload_bytes,
        series_cache=settings.remote_write_series_cache,
        bearer_token=token,
        basic_user=settings.remote_write_basic_user,
        basic_password=password.get_secret_value() if password else None,
    )


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    """A confluent-kafka Producer for the ingest (``overrides`` win, e.g. in tests)."""
    conf: dict[str, Any] = {**settings.kafka_config(), **PRODUCER_DEFAULTS, **overrides}
    conf["client.id"] = "smartdeploy-ingest"
    return Producer(conf)


def build_router(
    settings: Settings, producer: Producer | None = None, topic: str = METRICS
) -> APIRouter:
    """The ingest router, with a fresh producer unless one is given."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    cap_malloc_arenas()
    config = dataclasses.replace(ingest_config(settings), topic=topic)
    return build_ingest_router(config, producer or make_producer(settings))
