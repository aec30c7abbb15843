"""Request body → MetricBatch JSON messages: negotiation, snappy, protobuf, label mapping.

The hot path is the native ``_fastdecode.Mapper`` (C): it reads the protobuf wire
format and writes each kept series straight into its app's JSON array, so no Python
object is created per sample or per label. ``PyMapper`` does the same with the
protobuf runtime's message classes; it is the fallback when the extension is not
built and the reference the tests compare the native decoder against.

The batch id is derived from the compressed body and the app, so when Prometheus
retries a request (after a 503) the same batches get the same ids and the history
store deduplicates them.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import cramjam
import orjson

from api.ingest.proto import RequestV2, WriteRequest
from schemas.base import SCHEMA_VERSION, derived_id

try:  # the compiled decoder; absent only when the C extension was not built
    from api.ingest._fastdecode import Mapper as NativeMapper
    from api.ingest._fastdecode import body_hash as _native_hash
except ImportError:  # pragma: no cover - exercised on installs without a compiler
    NativeMapper = None
    _native_hash = None

V1_PROTO = "prometheus.WriteRequest"
V2_PROTO = "io.prometheus.write.v2.Request"
TRACKS = ("stable", "canary", "baseline")

#: (app, series JSON array bytes, samples in it, newest timestamp in ms)
Chunk = tuple[str, bytes, int, int]
#: (chunks, kept samples, dropped samples, native histograms seen)
Mapped = tuple[list[Chunk], int, int, int]


class DecodeError(ValueError):
    """The body cannot be decoded (HTTP 400); the message says why."""


class UnsupportedMedia(ValueError):
    """Content-Type / Content-Encoding we do not speak (HTTP 415)."""


class TooLarge(ValueError):
    """Body over the size limit, compressed or decompressed (HTTP 413)."""


class SeriesMapper(Protocol):
    """Decoded protobuf bytes → per-app series JSON (native or pure Python)."""

    def encode(self, data: Any, version: int) -> Mapped: ...


def protocol_version(content_type: str | None, content_encoding: str | None) -> int:
    """1 or 2 from the request headers, per the remote-write 2.0 content negotiation.

    >>> protocol_version("application/x-protobuf", "snappy")
    1
    >>> protocol_version("application/x-protobuf;proto=io.prometheus.write.v2.Request", "snappy")
    2
    >>> protocol_version("application/json", "snappy")
    Traceback (most recent call last):
    ...
    api.ingest.decode.UnsupportedMedia: unsupported Content-Type 'application/json'
    """
    if (content_encoding or "").strip().lower() != "snappy":
        raise UnsupportedMedia(f"unsupported Content-Encoding {content_encoding!r} (need snappy)")
    media, *params = [p.strip() for p in (content_type or "").split(";")]
    if media.lower() != "application/x-protobuf":
        raise UnsupportedMedia(f"unsupported Content-Type {content_type!r}")
    proto = V1_PROTO
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "proto":
            proto = value.strip().strip('"')
    if proto == V1_PROTO:
        return 1
    if proto == V2_PROTO:
        return 2
    raise UnsupportedMedia(f"unsupported proto {proto!r}")


def snappy_length(body: bytes) -> int:
    """Uncompressed size announced by a snappy block's varint header.

    >>> snappy_length(bytes(cramjam.snappy.compress_raw(b"x" * 300)))
    300
    """
    n = shift = 0
    for i in range(min(len(body), 10)):
        byte = body[i]
        n |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return n
        shift += 7
    raise DecodeError("snappy: bad length header")


def decompress(body: bytes, max_bytes: int) -> Any:
    """Snappy block → buffer, refusing bodies that would expand past ``max_bytes``."""
    size = snappy_length(body)
    if size > max_bytes:
        raise TooLarge(f"decompressed body would be {size} bytes (limit {max_bytes})")
    try:
        return cramjam.snappy.decompress_raw(body)
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise DecodeError(f"snappy: {exc}") from exc


@dataclass(frozen=True)
class LabelMap:
    """Which labels carry app / version / track / deployment id, and which names to keep."""

    app: str = "app"
    version: str = "version"
    track: str = "track"
    deployment_id: str = "deployment_id"
    metric_allow: str = r".+"

    def allow(self) -> Callable[[str], bool]:
        """Predicate over metric names: the regex must match the whole name (as in PromQL)."""
        pattern = re.compile(self.metric_allow)
        return lambda name: pattern.fullmatch(name) is not None


def make_mapper(
    labels: LabelMap, max_chunk_bytes: int, native: bool = True, series_cache: int = 65536
) -> SeriesMapper:
    """The native mapper when built (and wanted), else the protobuf-runtime one.

    ``series_cache``: label sets (1.0 series) whose mapping and label JSON the native
    mapper remembers, so a series sent again only costs its samples (0 = off).
    """
    if native and NativeMapper is not None:
        return NativeMapper(  # type: ignore[no-any-return]
            labels.app,
            labels.version,
            labels.track,
            labels.deployment_id,
            labels.allow(),
            max_chunk_bytes,
            series_cache_size=series_cache,
        )
    return PyMapper(labels, max_chunk_bytes)


def _num(v: float) -> float | None:
    return v if math.isfinite(v) else None


class PyMapper:
    """Same contract as the native mapper, written with the protobuf runtime (slower)."""

    def __init__(self, labels: LabelMap, max_chunk_bytes: int) -> None:
        self.labels = labels
        self.max_chunk = max_chunk_bytes
        self._allow = labels.allow()
        self._special = {"__name__", labels.app, labels.version, labels.track, labels.deployment_id}

    def encode(self, data: Any, version: int) -> Mapped:
        try:
            if version == 1:
                req = WriteRequest.FromString(bytes(data))
                series = [
                    ({lb.name: lb.value for lb in ts.labels}, ts.samples) for ts in req.timeseries
                ]
            else:
                req = RequestV2.FromString(bytes(data))
                sym = list(req.symbols)
                series = [(self._refs(sym, ts.labels_refs), ts.samples) for ts in req.timeseries]
        except Exception as exc:  # protobuf's DecodeError, bad refs
            raise DecodeError(f"malformed protobuf: {exc}") from exc
        out: dict[str, list[tuple[bytes, int, int]]] = {}
        kept = dropped = 0
        for labels, samples in series:
            n = len(samples)
            if not n:
                continue
            row = self._row(labels, samples)
            if row is None:
                dropped += n
                continue
            app, doc, max_ts = row
            out.setdefault(app, []).append((orjson.dumps(doc), n, max_ts))
            kept += n
        return self._chunks(out), kept, dropped, 0

    @staticmethod
    def _refs(sym: list[str], refs: Any) -> dict[str, str]:
        if len(refs) % 2:
            raise ValueError("labels_refs has an odd length")
        return {sym[refs[i]]: sym[refs[i + 1]] for i in range(0, len(refs), 2)}

    def _row(self, labels: dict[str, str], samples: Any) -> tuple[str, dict[str, Any], int] | None:
        lm = self.labels
        name, app = labels.get("__name__", ""), labels.get(lm.app, "")
        track = labels.get(lm.track) or "stable"
        if not name or not app or track not in TRACKS or not self._allow(name):
            return None
        ts = [s.timestamp for s in samples]
        doc = {
            "name": name,
            "labels": {k: v for k, v in labels.items() if k not in self._special},
            "deployment_id": labels.get(lm.deployment_id) or None,
            "version": labels.get(lm.version) or None,
            "track": track,
            "timestamps_ms": ts,
            "values": [_num(s.value) for s in samples],
        }
        return app, doc, max(ts)

    def _chunks(self, out: dict[str, list[tuple[bytes, int, int]]]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for app, rows in out.items():
            parts: list[bytes] = []
            size = samples = 0
            max_ts = -(2**63)
            for doc, n, ts in rows:
                if parts and size >= self.max_chunk:
                    chunks.append((app, b"[" + b",".join(parts) + b"]", samples, max_ts))
                    parts, size, samples, max_ts = [], 0, 0, -(2**63)
                parts.append(doc)
                size += len(doc) + 1
                samples += n
                max_ts = max(max_ts, ts)
            chunks.append((app, b"[" + b",".join(parts) + b"]", samples, max_ts))
        return chunks


def body_digest(body: bytes) -> str:
    """128-bit content hash of the request body (idempotency key of its batches).

    The native hash runs at memory speed (blake2b costs ~7 % of a request); both are
    stable across processes, so a retried body maps to the same batch ids.

    >>> body_digest(b"abc") == body_digest(b"abc") != body_digest(b"abd")
    True
    """
    if _native_hash is not None:
        return bytes(_native_hash(body)).hex()
    return hashlib.blake2b(body, digest_size=16).hexdigest()


@functools.lru_cache(maxsize=1024)
def _utc_second(sec: int) -> str:
    return datetime.fromtimestamp(sec, UTC).isoformat()[:-6]  # without "+00:00"


def occurred_at(max_ts_ms: int) -> str:
    """ISO-8601 UTC time of the newest sample, as ``datetime.isoformat`` writes it.

    The date and time of day come from a small cache by second (a request's chunks
    share their second; formatting a datetime each time was ~5 % of the event loop).

    >>> occurred_at(1_700_000_000_123), occurred_at(1_700_000_000_000)
    ('2023-11-14T22:13:20.123000+00:00', '2023-11-14T22:13:20+00:00')
    """
    sec, milli = divmod(max_ts_ms, 1000)
    try:
        day_time = _utc_second(sec)
    except (OverflowError, ValueError, OSError) as exc:
        raise DecodeError(f"sample timestamp {max_ts_ms} ms is out of range") from exc
    return f"{day_time}.{milli:03d}000+00:00" if milli else f"{day_time}+00:00"


def batch_message(app: str, series_json: bytes, max_ts_ms: int, batch_id: str) -> bytes:
    """Wrap one app's series array in the MetricBatch envelope (bytes, no re-encoding)."""
    return b"".join(
        (
            b'{"schema_version":%d,"id":"%s","occurred_at":"%s","type":"metrics.batch","app":'
            % (SCHEMA_VERSION, batch_id.encode(), occurred_at(max_ts_ms).encode()),
            orjson.dumps(app),
            b',"source":"remote_write","series":',
            series_json,
            b"}",
        )
    )


def batch_messages(chunks: list[Chunk], digest: str) -> list[tuple[str, bytes, int]]:
    """(app, MetricBatch JSON, samples) per chunk, ids derived from body digest + app + part."""
    msgs = []
    for part, (app, series_json, n, max_ts) in enumerate(chunks):
        batch_id = derived_id("remote_write", digest, app, part)
        msgs.append((app, batch_message(app, series_json, max_ts, batch_id), n))
    return msgs
