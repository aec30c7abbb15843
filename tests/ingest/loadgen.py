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


def literal_positions(comp: bytes) -> np.ndarray:
    """For each decompressed byte, its index in ``comp`` if it came from a literal, else -1."""
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
                n, pos = ((tag >> 2) & 7) + 4, pos + 2
            else:
                n, pos = (tag >> 2) + 1, pos + (3 if kind == 2 else 5)
        out += n
    return src


@dataclass
class Template:
    """A compressed body whose per-series timestamps can be overwritten in place."""

    body: bytes
    ts_index: np.ndarray  # positions in ``body`` of every timestamp byte
    samples: int

    def with_ts(self, ts_ms: int) -> bytes:
        buf = np.frombuffer(self.body, dtype=np.uint8).copy()
        buf[self.ts_index] = np.tile(np.frombuffer(varint(ts_ms), np.uint8), self.samples)
        return buf.tobytes()


def make_template(labels: list[dict[str, str]], seed: int) -> Template:
    """Build, compress, locate the literal timestamp bytes, and verify one patch."""
    rng = random.Random(seed)
    for _attempt in range(8):
        msg = write_request(labels, 0, seed=seed)
        marks = rng.sample(range(2**35, 2**42), len(labels))
        for ts, mark in zip(msg.timeseries, marks, strict=True):
            ts.samples[0].timestamp = mark
        raw = msg.SerializeToString()
        comp = bytes(cramjam.snappy.compress_raw(raw))
        src = literal_positions(comp)
        index = []
        for mark in marks:
            at = raw.find(b"\x10" + varint(mark)) + 1
            index.append(src[at : at + TS_WIDTH])
        ts_index = np.concatenate(index)
        if (ts_index >= 0).all():
            tpl = Template(comp, ts_index, len(labels))
            check = 1_763_769_600_123
            for ts in msg.timeseries:
                ts.samples[0].timestamp = check
            assert bytes(cramjam.snappy.decompress_raw(tpl.with_ts(check))) == msg.SerializeToString()
            return tpl
        seed += 1_000_003
    raise RuntimeError("could not place every timestamp in a snappy literal")


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
    port: int, path: str, templates: list[Template], ts0: int, phases: list[float], counts: list[Counts]
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
        phase = sum(now >= p for p in phases[:-1]) - 1
        if phase >= 0 and time.monotonic() < phases[-1]:
            c = counts[phase]
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
    await asyncio.gather(*(connection(args["port"], args["path"], t, ts0 + c * 7, phases, counts)
                           for c, t in enumerate(templates)))
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
