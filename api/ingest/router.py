"""The remote-write endpoint and its stats, as a FastAPI router.

``POST /api/v1/write`` is a plain Starlette route (no FastAPI body/dependency
machinery: it is the hottest path of the API and reads raw bytes anyway). Order
of checks: auth (401) → declared size (413) → media type (415) → body size (413) →
snappy (400 / 413 on decompressed size) → protobuf (400) → Kafka queue (503 +
Retry-After) → Kafka ack (503) → 204. Bodies of ``offload_min_bytes`` or more decode
in a worker thread (the native decoder, snappy and the body hash release the GIL);
the usual 2,000-sample body decodes inline, faster than a hand-off to a thread.
Every non-2xx answer counts as a rejected request; samples count as accepted or
dropped only once the request succeeded, so a request Prometheus retries is not
counted twice.

Why 204 waits for the Kafka ack: Prometheus forgets a batch once it gets a 2xx, so
answering before Kafka has it would lose samples when the broker fails; waiting costs
latency (linger ~5 ms + broker round trip), not throughput (Prometheus sends from many
shards in parallel). ``IngestConfig(await_ack=False)`` trades the guarantee for latency.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from api.ingest.config import IngestConfig
from api.ingest.decode import (
    Chunk,
    DecodeError,
    TooLarge,
    UnsupportedMedia,
    batch_messages,
    body_digest,
    decompress,
    make_mapper,
    protocol_version,
)
from api.ingest.delivery import DeliveryFailed, DeliveryPump, Producer, QueueFull

log = logging.getLogger(__name__)

WRITE_PATH = "/api/v1/write"
STATS_PATH = "/v1/ingest/stats"


class IngestStats(BaseModel):
    """Counters since process start."""

    accepted_samples: int = 0
    dropped_samples: int = 0
    published_batches: int = 0
    rejected_requests: int = 0


@dataclass
class _Reject(Exception):
    status: int
    reason: str
    headers: dict[str, str] | None = None


class IngestService:
    """State behind the router: config, mapper, producer pump, counters."""

    def __init__(self, config: IngestConfig, producer: Producer) -> None:
        self.config = config
        self.mapper = make_mapper(
            config.labels, config.max_batch_bytes, config.native, config.series_cache
        )
        self.pump = DeliveryPump(producer)
        self.stats = IngestStats()
        # the native decoder runs without the GIL, so the event loop keeps serving HTTP and
        # Kafka acks while requests decode in these threads, one request each
        self._decoder = ThreadPoolExecutor(
            max_workers=max(1, config.decode_threads), thread_name_prefix="ingest-decode"
        )

    # --- auth --------------------------------------------------------------
    def _authorized(self, header: str | None) -> bool:
        cfg = self.config
        if not cfg.auth_required:
            return True
        scheme, _, cred = (header or "").partition(" ")
        scheme, cred = scheme.lower(), cred.strip()
        if scheme == "bearer" and cfg.bearer_token:
            return hmac.compare_digest(cred.encode(), cfg.bearer_token.encode())
        if scheme == "basic" and cfg.basic_user:
            try:
                user, _, password = base64.b64decode(cred, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            want = f"{cfg.basic_user}:{cfg.basic_password or ''}".encode()
            return hmac.compare_digest(f"{user}:{password}".encode(), want)
        return False

    def _challenge(self) -> dict[str, str]:
        kind = "Bearer" if self.config.bearer_token else "Basic"
        return {"WWW-Authenticate": f'{kind} realm="smartdeploy-ingest"'}

    # --- body --------------------------------------------------------------
    async def _read_body(self, request: Request) -> bytes:
        limit = self.config.max_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Reject(413, f"body of {declared} bytes is over the limit of {limit}")
        parts: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Reject(413, f"body is over the limit of {limit} bytes")
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _decode(self, body: bytes, version: int) -> tuple[list[Chunk], int, int, str]:
        """Snappy, protobuf → per-app series JSON, body hash: all release the GIL."""
        raw = decompress(body, self.config.max_bytes)
        chunks, kept, dropped, _histograms = self.mapper.encode(raw, version)
        return chunks, kept, dropped, body_digest(body)

    # --- endpoints ---------------------------------------------------------
    async def write(self, request: Request) -> Response:
        try:
            return await self._write(request)
        except _Reject as rej:
            self.stats.rejected_requests += 1
            return PlainTextResponse(rej.reason + "\n", rej.status, headers=rej.headers)
        except Exception:  # a bug, not the sender's fault: 500, which Prometheus retries
            self.stats.rejected_requests += 1
            log.exception("remote-write request failed")
            return PlainTextResponse("internal error\n", 500)

    async def _write(self, request: Request) -> Response:
        headers = request.headers
        if not self._authorized(headers.get("authorization")):
            raise _Reject(401, "missing or wrong credentials", self._challenge())
        try:
            version = protocol_version(headers.get("content-type"), headers.get("content-encoding"))
        except UnsupportedMedia as exc:
            raise _Reject(415, str(exc)) from exc
        body = await self._read_body(request)
        try:
            if len(body) >= self.config.offload_min_bytes:  # GIL-free work, off the event loop
                loop = asyncio.get_running_loop()
                decoded = await loop.run_in_executor(self._decoder, self._decode, body, version)
            else:
                decoded = self._decode(body, version)
            chunks, kept, dropped, digest = decoded
            messages = batch_messages(chunks, digest)
        except TooLarge as exc:
            raise _Reject(413, str(exc)) from exc
        except (DecodeError, ValueError) as exc:
            raise _Reject(400, f"cannot decode remote-write body: {exc}") from exc
        retry = {"Retry-After": str(self.config.retry_after_s)}
        try:
            acked = self.pump.send(self.config.topic, [(a.encode(), v) for a, v, _ in messages])
        except QueueFull as exc:
            raise _Reject(503, f"Kafka producer queue is full ({exc}); retry", retry) from exc
        if not self.config.await_ack:  # nobody awaits it: consume its outcome
            acked.add_done_callback(lambda f: f.cancelled() or f.exception())
        else:
            try:
                await asyncio.wait_for(acked, self.config.ack_timeout_s)
            except (DeliveryFailed, TimeoutError) as exc:
                reason = f"Kafka did not acknowledge the batches: {exc!r}"
                raise _Reject(503, reason, retry) from exc
        self.stats.accepted_samples += kept
        self.stats.dropped_samples += dropped
        self.stats.published_batches += len(messages)
        out = {}
        if version == 2:  # required by remote-write 2.0: what was written
            out = {
                "X-Prometheus-Remote-Write-Samples-Written": str(kept),
                "X-Prometheus-Remote-Write-Histograms-Written": "0",
                "X-Prometheus-Remote-Write-Exemplars-Written": "0",
            }
        return Response(status_code=204, headers=out)

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush the producer and stop the helper threads (app shutdown)."""
        self.pump.close(timeout_s)
        self._decoder.shutdown(wait=True)

    async def get_stats(self, request: Request) -> Response:
        if not self._authorized(request.headers.get("authorization")):
            return PlainTextResponse("missing or wrong credentials\n", 401, self._challenge())
        return JSONResponse(self.stats.model_dump())


def build_ingest_router(config: IngestConfig, producer: Producer) -> APIRouter:
    """Router with ``POST /api/v1/write`` and ``GET /v1/ingest/stats``.

    The router's lifespan flushes the producer when the app shuts down; the service is
    also reachable as ``router.ingest_service`` (tests, embedding without a lifespan).
    """
    service = IngestService(config, producer)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(service.close)

    router = APIRouter(tags=["ingest"], lifespan=lifespan)
    router.add_route(WRITE_PATH, service.write, methods=["POST"], include_in_schema=False)
    router.add_api_route(
        STATS_PATH,
        service.get_stats,
        methods=["GET"],
        response_model=IngestStats,
        summary="Remote-write ingest counters since start",
    )
    router.ingest_service = service  # type: ignore[attr-defined]
    return router
