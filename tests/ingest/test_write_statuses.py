"""Every status code of POST /api/v1/write, with real (malformed) bodies."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import cramjam
import httpx
import orjson
import pytest
from fastapi import FastAPI

from api.ingest import IngestConfig, LabelMap, build_ingest_router
from schemas.metrics import MetricBatch
from tests.ingest.fakes import FakeProducer
from tests.ingest.payloads import request_v2, series_labels, snappy, write_request

V1 = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
V2 = {
    **V1,
    "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    "X-Prometheus-Remote-Write-Version": "2.0.0",
}
LABELS = series_labels(300, seed=3)
TS = 1_763_769_600_000
Client = Callable[..., Any]


@pytest.fixture
def make_client() -> Any:
    made: list[Any] = []

    async def _make(producer: FakeProducer | None = None, **cfg: Any) -> httpx.AsyncClient:
        router = build_ingest_router(IngestConfig(**cfg), producer or FakeProducer())
        app = FastAPI()
        app.include_router(router)
        made.append(router.ingest_service)  # type: ignore[attr-defined]
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    yield _make
    for service in made:
        service.pump.close(1.0)


@pytest.fixture
async def client(make_client: Client) -> AsyncIterator[httpx.AsyncClient]:
    async with await make_client() as c:
        yield c


async def stats(c: httpx.AsyncClient, **headers: str) -> dict[str, int]:
    resp = await c.get("/v1/ingest/stats", headers=headers)
    assert resp.status_code == 200
    return dict(resp.json())


@pytest.mark.parametrize("offload", [0, 1 << 20], ids=["decode-thread", "inline"])
async def test_valid_v1_request_is_published_per_app_and_answered_204(
    make_client: Client, offload: int
) -> None:
    producer = FakeProducer()
    labels = LabelMap(metric_allow="http_.*|up")
    async with await make_client(producer, labels=labels, offload_min_bytes=offload) as c:
        resp = await c.post("/api/v1/write", content=snappy(write_request(LABELS, TS)), headers=V1)
        assert resp.status_code == 204, resp.text
        apps = {
            lb["app"]
            for lb in LABELS
            if "app" in lb and (lb["__name__"].startswith("http_") or lb["__name__"] == "up")
        }
        assert sorted(k.decode() for _, k, _ in producer.sent) == sorted(apps)
        batches = [MetricBatch.model_validate_json(v) for _, _, v in producer.sent]
        kept = sum(b.sample_count() for b in batches)
        assert all(s.name.startswith("http_") or s.name == "up" for b in batches for s in b.series)
        assert await stats(c) == {
            "accepted_samples": kept,
            "dropped_samples": len(LABELS) - kept,
            "published_batches": len(batches),
            "rejected_requests": 0,
        }


async def test_v2_request_answers_204_with_written_headers(make_client: Client) -> None:
    producer = FakeProducer()
    async with await make_client(producer) as c:
        resp = await c.post("/api/v1/write", content=snappy(request_v2(LABELS, TS)), headers=V2)
        assert resp.status_code == 204, resp.text
        kept = sum(MetricBatch.model_validate_json(v).sample_count() for _, _, v in producer.sent)
        assert resp.headers["X-Prometheus-Remote-Write-Samples-Written"] == str(kept)
        assert resp.headers["X-Prometheus-Remote-Write-Histograms-Written"] == "0"


async def test_bad_snappy_is_400_with_reason(client: httpx.AsyncClient) -> None:
    body = snappy(write_request(LABELS, TS))
    corrupt = body[:3] + bytes(b ^ 0x5A for b in body[3:40]) + body[40:]
    resp = await client.post("/api/v1/write", content=corrupt, headers=V1)
    assert resp.status_code == 400
    assert "snappy" in resp.text
    assert (await stats(client))["rejected_requests"] == 1


@pytest.mark.parametrize("offload", [0, 1 << 20], ids=["decode-thread", "inline"])
async def test_truncated_protobuf_is_400_with_reason(make_client: Client, offload: int) -> None:
    raw = write_request(LABELS, TS).SerializeToString()
    body = bytes(cramjam.snappy.compress_raw(raw[: len(raw) // 2]))
    async with await make_client(offload_min_bytes=offload) as client:
        resp = await client.post("/api/v1/write", content=body, headers=V1)
        assert resp.status_code == 400
        assert "malformed" in resp.text


async def test_v1_body_sent_as_v2_is_400(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/write", content=snappy(write_request(LABELS, TS)), headers=V2)
    assert resp.status_code == 400
    assert "reserved" in resp.text


@pytest.mark.parametrize(
    "headers",
    [
        {**V1, "Content-Type": "application/json"},
        {**V1, "Content-Type": "application/x-protobuf;proto=prometheus.Unknown"},
        {**V1, "Content-Encoding": "gzip"},
        {"Content-Type": "application/x-protobuf"},
    ],
    ids=["json", "unknown-proto", "gzip", "no-encoding"],
)
async def test_wrong_content_type_or_encoding_is_415(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    resp = await client.post(
        "/api/v1/write", content=snappy(write_request(LABELS, TS)), headers=headers
    )
    assert resp.status_code == 415


async def test_body_over_limit_is_413(make_client: Client) -> None:
    body = snappy(write_request(LABELS, TS))
    async with await make_client(max_bytes=len(body) - 1) as c:
        resp = await c.post("/api/v1/write", content=body, headers=V1)
        assert resp.status_code == 413


async def test_decompressed_size_over_limit_is_413(make_client: Client) -> None:
    raw = write_request(LABELS, TS).SerializeToString()
    body = bytes(cramjam.snappy.compress_raw(raw))
    async with await make_client(max_bytes=len(raw) - 1) as c:
        assert len(body) < len(raw) - 1
        resp = await c.post("/api/v1/write", content=body, headers=V1)
        assert resp.status_code == 413
        assert "decompressed" in resp.text


async def test_full_producer_queue_is_503_with_retry_after(make_client: Client) -> None:
    async with await make_client(FakeProducer(full=True)) as c:
        resp = await c.post("/api/v1/write", content=snappy(write_request(LABELS, TS)), headers=V1)
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "1"
        assert await stats(c) == {
            "accepted_samples": 0,
            "dropped_samples": 0,
            "published_batches": 0,
            "rejected_requests": 1,
        }


async def test_failed_kafka_delivery_is_503(make_client: Client) -> None:
    async with await make_client(
        FakeProducer(fail_with="Broker: Not enough in-sync replicas")
    ) as c:
        resp = await c.post("/api/v1/write", content=snappy(write_request(LABELS, TS)), headers=V1)
        assert resp.status_code == 503
        assert "Retry-After" in resp.headers


@pytest.mark.parametrize(
    "auth", [None, "Bearer nope", "Basic " + base64.b64encode(b"u:x").decode(), "Bearer"]
)
async def test_missing_or_wrong_bearer_token_is_401(make_client: Client, auth: str | None) -> None:
    async with await make_client(bearer_token="s3cret") as c:
        headers = {**V1, **({"Authorization": auth} if auth else {})}
        resp = await c.post(
            "/api/v1/write", content=snappy(write_request(LABELS, TS)), headers=headers
        )
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        ok = await c.post(
            "/api/v1/write",
            content=snappy(write_request(LABELS, TS)),
            headers={**V1, "Authorization": "Bearer s3cret"},
        )
        assert ok.status_code == 204


async def test_basic_auth_is_checked(make_client: Client) -> None:
    def basic(user: str, pw: str) -> dict[str, str]:
        return {
            **V1,
            "Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode(),
        }

    body = snappy(write_request(LABELS, TS))
    async with await make_client(basic_user="prom", basic_password="pw") as c:
        assert (await c.post("/api/v1/write", content=body, headers=V1)).status_code == 401
        assert (
            await c.post("/api/v1/write", content=body, headers=basic("prom", "bad"))
        ).status_code == 401
        assert (
            await c.post(
                "/api/v1/write", content=body, headers={**V1, "Authorization": "Basic %%%"}
            )
        ).status_code == 401
        assert (
            await c.post("/api/v1/write", content=body, headers=basic("prom", "pw"))
        ).status_code == 204
        assert (await c.get("/v1/ingest/stats")).status_code == 401


async def test_retried_request_gets_the_same_batch_ids(make_client: Client) -> None:
    producer = FakeProducer()
    body = snappy(write_request(LABELS, TS))
    async with await make_client(producer) as c:
        for _ in range(2):
            assert (await c.post("/api/v1/write", content=body, headers=V1)).status_code == 204
    ids = [orjson.loads(v)["id"] for _, _, v in producer.sent]
    half = len(ids) // 2
    assert ids[:half] == ids[half:] and len(set(ids[:half])) == half


async def test_unexpected_failure_is_500_and_counted_as_rejected(make_client: Client) -> None:
    async with await make_client(FakeProducer(broken=True)) as c:
        resp = await c.post("/api/v1/write", content=snappy(write_request(LABELS, TS)), headers=V1)
        assert resp.status_code == 500
        assert (await stats(c))["rejected_requests"] == 1


async def test_app_shutdown_flushes_the_producer() -> None:
    producer = FakeProducer()
    app = FastAPI()
    app.include_router(build_ingest_router(IngestConfig(), producer))
    async with app.router.lifespan_context(app):
        assert producer.flushes == 0
    assert producer.flushes == 1
