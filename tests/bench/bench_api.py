"""Latency of ``GET /v1/deployments/{id}`` under an open-loop, paced load.

Usage: ``python tests/bench/bench_api.py`` (env: RPS=200, DURATION=20, DEPLOYMENTS=1000,
CACHE=1000 (API cache entries, 0 = off), WARM=DEPLOYMENTS (entries warmed at startup),
URL=<base url of a running stack>, TOKEN=<viewer token for URL>).

Without URL it starts a server subprocess: the real ``HistoryStore`` on embedded
ClickHouse (chdb, in a temporary directory) seeded with DEPLOYMENTS realistic
deployments (request, prediction, decision, 10 canary steps × 4 KPIs × 2 tracks of
KPI windows and verdicts, outcome: ~100 records each), served by ``create_app``
under uvicorn — the embedded stack's API path. With URL it measures that server,
picking ids from its ``/v1/deployments``.

Open loop: request *i* is sent at ``t0 + i/RPS`` whatever earlier requests are
doing, and its latency is measured from that scheduled time, so a stalled server
shows up as latency instead of silently lowering the rate (no coordinated omission).
Last line: ``RESULT api p50_ms=<x> p99_ms=<x> rps=<x>``.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

KPIS = ("error_rate", "latency_p99", "cpu", "memory")
APPS = [f"svc-{i:02d}" for i in range(40)]


def seed_records(n: int, start: datetime) -> Any:
    """~100 records per deployment, in event-time order, built from the real schemas."""
    from schemas import (
        DeploymentFinished,
        DeploymentStarted,
        DeploymentStep,
        KpiWindow,
        Verdict,
        derived_id,
    )
    from tests.api.demo import requested

    rng = random.Random(7)
    for i in range(n):
        dep, app = f"bench-{i:05d}", APPS[i % len(APPS)]
        at = start + timedelta(minutes=3 * i)
        yield from requested(dep, app, at)
        yield DeploymentStarted(
            id=derived_id(dep, "start"),
            occurred_at=at,
            deployment_id=dep,
            app=app,
            version="v2",
            strategy="canary",
        )
        for step in range(1, 11):
            t = at + timedelta(seconds=15 * step)
            yield DeploymentStep(
                id=derived_id(dep, "step", step),
                occurred_at=t,
                deployment_id=dep,
                app=app,
                step=step,
                weight=10.0 * step,
            )
            for kpi in KPIS:
                for track in ("canary", "stable"):
                    yield KpiWindow(
                        id=derived_id(dep, kpi, track, step),
                        occurred_at=t,
                        deployment_id=dep,
                        app=app,
                        track=track,
                        kpi=kpi,
                        window_start=t - timedelta(seconds=15),
                        window_end=t,
                        value=rng.random(),
                        baseline=0.5,
                        threshold=0.9,
                        samples=30,
                        status="ok",
                    )
            yield Verdict(
                id=derived_id(dep, "verdict", step),
                occurred_at=t,
                deployment_id=dep,
                app=app,
                state="healthy",
                reason="all KPIs within policy",
            )
        yield DeploymentFinished(
            id=derived_id(dep, "fin"),
            occurred_at=at + timedelta(minutes=3),
            deployment_id=dep,
            app=app,
            outcome="succeeded" if rng.random() > 0.1 else "rolled_back",
        )


def serve(port: int, n: int) -> None:
    """Server subprocess: seed a chdb history store, then serve the API on ``port``."""
    import uvicorn

    from api.live import InMemoryLiveFeed
    from smartdeploy.history.store import HistoryStore
    from smartdeploy.settings import Settings
    from smartdeploy.wire_api import build_api

    class NullPublisher:
        def publish(self, topic: str, key: str, record: Any) -> None:
            raise RuntimeError("read-only benchmark")

    data = Path(tempfile.mkdtemp(prefix="bench-api-"))
    store = HistoryStore(f"chdb://{data / 'chdb'}").open()
    t = time.perf_counter()
    batch: list[Any] = []
    for rec in seed_records(n, datetime(2026, 11, 1, tzinfo=UTC)):
        batch.append(rec)
        if len(batch) >= 20_000:
            store.insert(batch)
            batch = []
    store.insert(batch)
    print(f"seeded {store.inserted_rows} rows in {time.perf_counter() - t:.1f}s", flush=True)
    # The embedded stack's API path: build_api (auth off, cache + warm-up as configured).
    settings = Settings(data_dir=data, api_cache_warm=int(os.environ.get("WARM", str(n))),
                        api_cache_entries=int(os.environ.get("CACHE", "1000")))
    app = build_api(settings, store, NullPublisher(), live_feed=InMemoryLiveFeed())
    if app.state.cache_warmer is not None:
        t = time.perf_counter()
        app.state.cache_warmer.join()
        print(f"cache warmed in {time.perf_counter() - t:.1f}s", flush=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print(f"READY {port}", flush=True)
    server.run()


class _Conn:
    """One keep-alive HTTP/1.1 connection: a minimal client so the load generator's own
    cost (~0.1 ms a request) stays far below the server's (httpx costs ~3 ms here)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, path: str, head: bytes) -> int:
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + head + b"\r\n")
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("server closed an idle keep-alive connection")
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


async def load(base: str, ids: list[str], rps: float, seconds: float,
               headers: dict[str, str]) -> tuple[list[float], int, float]:
    """Fire requests at a fixed schedule; latencies (ms) from the scheduled send time."""
    url = httpx.URL(base)
    host, port = url.host, url.port or 80
    head = f"Host: {host}:{port}\r\n".encode() + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in headers.items())
    idle: list[_Conn] = []

    async def request(path: str) -> int:
        for attempt in range(2):  # an idle connection may have been closed by the server
            conn = idle.pop() if idle and attempt == 0 else _Conn(
                *await asyncio.open_connection(host, port))
            try:
                status = await conn.get(path, head)
            except (ConnectionError, asyncio.IncompleteReadError):
                conn.writer.close()
                continue
            idle.append(conn)
            return status
        raise ConnectionError(f"GET {path} failed twice")

    for i in range(50):  # warm-up: connections and lazy imports
        await request(f"/v1/deployments/{ids[i % len(ids)]}")
    rng = random.Random(1)
    total = int(rps * seconds)
    lat: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.1

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = t0 + i / rps
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if await request(f"/v1/deployments/{rng.choice(ids)}") != 200:
            errors += 1
        lat.append((loop.time() - scheduled) * 1000)

    await asyncio.gather(*(one(i) for i in range(total)))
    elapsed = loop.time() - t0
    for conn in idle:
        conn.writer.close()
    return lat, errors, total / elapsed


def _cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process (Linux /proc), to show cost apart from waiting."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
        return
    rps = float(os.environ.get("RPS", "200"))
    seconds = float(os.environ.get("DURATION", "20"))
    n = int(os.environ.get("DEPLOYMENTS", "1000"))
    url = os.environ.get("URL")
    token = os.environ.get("TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    proc = None
    if url is None:
        from tests.ui.server import free_port

        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line.rstrip(), flush=True)
            if line.startswith("READY"):
                break
        else:
            raise SystemExit("server did not start")
        url = f"http://127.0.0.1:{port}"
        ids = [f"bench-{i:05d}" for i in range(n)]
        deadline = time.monotonic() + 60
        while True:  # READY is printed just before uvicorn binds
            try:
                httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    else:
        page = httpx.get(f"{url}/v1/deployments", params={"limit": 500}, headers=headers).json()
        ids = [item["deployment_id"] for item in page["items"]]
        if not ids:
            raise SystemExit(f"{url} has no deployments to read")
    cpu0 = _cpu_s(proc.pid) if proc else 0.0
    client0 = time.process_time()
    try:
        lat, errors, achieved = asyncio.run(load(url, ids, rps, seconds, headers))
        if proc is not None:
            print(f"cpu per request: server={(_cpu_s(proc.pid) - cpu0) * 1000 / len(lat):.2f}ms "
                  f"client={(time.process_time() - client0) * 1000 / len(lat):.2f}ms "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus)")
        metrics = httpx.get(f"{url}/metrics").text
        cache = {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines()
                 if line.startswith("smartdeploy_api_cache_")}
        print(f"cache hits={cache.get('smartdeploy_api_cache_hits', 0):.0f} "
              f"misses={cache.get('smartdeploy_api_cache_misses', 0):.0f} (incl. warm-up)")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    print(
        f"requests={len(lat)} errors={errors} target_rps={rps:g} duration_s={seconds:g} "
        f"deployments={len(ids)} mean_ms={sum(lat) / len(lat):.2f} "
        f"p90_ms={pct(lat, 0.90):.2f} p999_ms={pct(lat, 0.999):.2f} max_ms={max(lat):.2f}"
    )
    print(f"RESULT api p50_ms={pct(lat, 0.50):.2f} p99_ms={pct(lat, 0.99):.2f} rps={achieved:.1f}")


if __name__ == "__main__":
    main()
