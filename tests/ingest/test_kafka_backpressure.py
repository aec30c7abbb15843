"""Against the real broker: a full producer queue is a 503 + Retry-After, and the retry
Prometheus then sends is published with the same batch ids (nothing lost, dedupable)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from api.ingest import build_ingest_router
from schemas.metrics import MetricBatch
from smartdeploy import wire_ingest
from smartdeploy.settings import Settings
from tests.ingest.payloads import series_labels, snappy, write_request
from tests.runtime.kafka_helpers import read_topic, unique

pytestmark = pytest.mark.integration

HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}


async def test_full_producer_queue_answers_503_then_the_retry_is_published(
    kafka_bootstrap: str, make_topics: Callable[..., list[str]]
) -> None:
    topic = make_topics(unique("metrics"))[0]
    settings = Settings(kafka_bootstrap=kafka_bootstrap)
    config = dataclasses.replace(wire_ingest.ingest_config(settings), topic=topic)
    labels = series_labels(400, seed=11)
    apps = {lb["app"] for lb in labels if "app" in lb}
    # the queue holds exactly one request's batches, which linger 1 s before being sent
    producer = wire_ingest.make_producer(
        settings, **{"queue.buffering.max.messages": len(apps), "linger.ms": 1000}
    )
    router = build_ingest_router(config, producer)
    app = FastAPI()
    app.include_router(router)
    first, second = (snappy(write_request(labels, 1_763_769_600_000 + i)) for i in (0, 1000))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            answers = await asyncio.gather(
                *(c.post("/api/v1/write", content=b, headers=HEADERS) for b in (first, second))
            )
            assert sorted(a.status_code for a in answers) == [204, 503]
            pairs = zip((first, second), answers, strict=True)
            bounced_body, bounced = next((b, a) for b, a in pairs if a.status_code == 503)
            assert bounced.headers["Retry-After"] == "1"
            assert "queue is full" in bounced.text
            # as Prometheus does: back off for Retry-After, then send the same body again
            await asyncio.sleep(float(bounced.headers["Retry-After"]))
            retry = await c.post("/api/v1/write", content=bounced_body, headers=HEADERS)
            assert retry.status_code == 204, retry.text
            stats = (await c.get("/v1/ingest/stats")).json()
    finally:
        router.ingest_service.pump.close(5)  # type: ignore[attr-defined]
    assert stats["rejected_requests"] == 1 and stats["published_batches"] == 2 * len(apps)
    msgs = read_topic(kafka_bootstrap, topic, 2 * len(apps), timeout_s=30)
    batches = [MetricBatch.model_validate_json(m.value() or b"") for m in msgs]
    assert len(batches) == 2 * len(apps)  # nothing of the bounced attempt leaked, nothing lost
    assert sum(b.sample_count() for b in batches) == stats["accepted_samples"]
    assert {b.occurred_at.timestamp() for b in batches} == {1_763_769_600.0, 1_763_769_601.0}
