"""Remote-write load generator for tests/bench/bench_ingest.py (runs in its own process).

Each connection owns one realistic series set (~2,000 series) and sends it over and
over with advancing timestamps, as a Prometheus shard does, so a real TSDB (the
reference receiver) appends in order to existing series instead of rejecting
duplicates or creating series. Re-compressing 700 KB per request would make the
client the bottleneck, so the payload is snappy-compressed once with a unique
placeholder timestamp per series: unique bytes never match elsewhere, so snappy
emits them as literals, and each request only overwrites those literal bytes in the
compressed body (numpy, ~20 µs). The patch is verified by decompressing once.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import cramjam
import numpy as np

from tests.ingest.payloads import series_labels, write_request

TS_WIDTH = 6  # varint bytes of any ms timestamp in [2**35, 2**42): 2001 .. 2109


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def byte_origins(comp: bytes) -> np.ndarray:
    """For each decompressed byte, the index in ``comp`` of the literal byte it came from
    (directly or through any chain of snappy copies)."""
    pos, size, shift = 0, 0, 0
    while True:
        b = comp[pos]
        pos += 1
        size |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    src = np.full(size, -1, dtype=np.int64)
    out = 0
    while pos < len(comp):
        tag = comp[pos]
        kind = tag & 3
        if kind == 0:
            n = tag >> 2
            if n >= 60:
                extra = n - 59
                n = int.from_bytes(comp[pos + 1 : pos + 1 + extra], "little")
                pos += extra
            n += 1
            src[out : out + n] = np.arange(pos + 1, pos + 1 + n)
            pos += 1 + n
        else:
            if kind == 1:
                n, off = ((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | comp[pos + 1]
                pos += 2
            elif kind == 2:
                n, off = (tag >> 2) + 1, int.from_bytes(comp[pos + 1 : pos + 3], "little")
                pos += 3
            else:
                n, off = (tag >> 2) + 1, int.from_bytes(comp[pos + 1 : pos + 5], "little")
                pos += 5
            if off >= n:
                src[out : out + n] = src[out - off : out - off + n]
            else:  # overlapping copy (run-length style)
                for i in range(n):
                    src[out + i] = src[out - off + i]
        out += n
    return src


@dataclass
class Template:
    """A compressed body whose per-series timestamps can be overwritten in place."""

    body: bytes
    index: np.ndarray  # positions in ``body`` of the literal bytes timestamps come from
    byte_no: np.ndarray  # which byte of the timestamp varint each of them holds
    samples: int = 2000

    def with_ts(self, ts_ms: int) -> bytes:
        buf = np.frombuffer(self.body, dtype=np.uint8).copy()
        buf[self.index] = np.frombuffer(varint(ts_ms), np.uint8)[self.byte_no]
        return buf.tobytes()


def make_template(labels: list[dict[str, str]], seed: int) -> Template:
    """Build, compress, find the literal bytes every timestamp byte comes from, verify."""
    rng = random.Random(seed)
    msg = write_request(labels, 0, seed=seed)
    marks = rng.sample(range(2**35, 2**42), len(labels))
    for ts, mark in zip(msg.timeseries, marks, strict=True):
        ts.samples[0].timestamp = mark
    raw = msg.SerializeToString()
    comp = bytes(cramjam.snappy.compress_raw(raw))
    origin = byte_origins(comp)
    role = np.full(len(raw), -1, dtype=np.int64)  # k for the k-th byte of a timestamp
    at = 0
    for mark in marks:
        at = raw.find(b"\x10" + varint(mark), at) + 1
        role[at : at + TS_WIDTH] = np.arange(TS_WIDTH)
    literal_role = np.full(len(comp), -1, dtype=np.int64)
    literal_role[origin] = role  # consistent iff every copy preserves the role
    if (literal_role[origin] != role).any():
        raise RuntimeError("a snappy literal feeds both timestamp and other bytes")
    index = np.flatnonzero(literal_role >= 0)
    tpl = Template(comp, index, literal_role[index], len(labels))
    check = 1_763_769_600_123
    for ts in msg.timeseries:
        ts.samples[0].timestamp = check
    assert bytes(cramjam.snappy.decompress_raw(tpl.with_ts(check))) == msg.SerializeToString()
    return tpl


def make_templates(conns: int, per_conn: int, n_series: int) -> list[list[Template]]:
    """``per_conn`` bodies (different values) of one series set per connection."""
    out = []
    for c in range(conns):
        labels = series_labels(n_series, seed=1000 + c)
        out.append([make_template(labels, seed=c * 100 + j) for j in range(per_conn)])
    return out


@dataclass
class Counts:
    ok_requests: int = 0
    ok_samples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def request_head(port: int, path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
        "X-Prometheus-Remote-Write-Version: 0.1.0\r\nUser-Agent: smartdeploy-bench\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def connection(
    port: int,
    path: str,
    templates: list[Template],
    ts0: int,
    phases: list[float],
    counts: list[Counts],
) -> None:
    """Send this connection's bodies back to back until the last phase ends."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    while (now := time.monotonic()) < phases[-1]:
        tpl = templates[i % len(templates)]
        body = tpl.with_ts(ts0 + i)
        i += 1
        writer.write(request_head(port, path, len(body)) + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await reader.readexactly(length)
        phase = sum(now >= p for p in phases[:-1]) - 1  # 0 = warm-up (not counted)
        if phase >= 1 and time.monotonic() < phases[-1]:
            c = counts[phase - 1]
            c.statuses[status] = c.statuses.get(status, 0) + 1
            if status in (200, 204):
                c.ok_requests += 1
                c.ok_samples += tpl.samples
    writer.close()


async def run(args: dict[str, Any], templates: list[list[Template]]) -> list[Counts]:
    start = time.monotonic() + 0.2
    phases = [start]
    for d in args["phases"]:
        phases.append(phases[-1] + d)
    print(json.dumps({"phases": phases}), flush=True)
    counts = [Counts() for _ in args["phases"][1:]]  # phase 0 is the warm-up
    ts0 = args["ts0"]
    await asyncio.gather(
        *(
            connection(args["port"], args["path"], t, ts0 + c * 7, phases, counts)
            for c, t in enumerate(templates)
        )
    )
    return counts


def main() -> None:
    """stdin: JSON {port, path, phases:[warmup, measure, soak...], ts0, templates_file}."""
    import pickle

    args = json.loads(sys.stdin.readline())
    with open(args["templates_file"], "rb") as fh:
        templates = pickle.load(fh)
    try:
        import uvloop

        counts = uvloop.run(run(args, templates))
    except ImportError:
        counts = asyncio.run(run(args, templates))
    print(json.dumps([c.__dict__ for c in counts]), flush=True)


if __name__ == "__main__":
    main()
