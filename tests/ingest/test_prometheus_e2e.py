"""A real Prometheus scrapes a target and remote-writes to the running API; the samples
arrive in Kafka (as MetricBatch) and, through the history writer, in ClickHouse."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from schemas.metrics import MetricBatch
from smartdeploy import wire_ingest
from smartdeploy.broker import free_port
from smartdeploy.history import HistoryStore
from smartdeploy.history.writer import HistoryWriter
from smartdeploy.settings import Settings
from tests.runtime.kafka_helpers import SESSION_TIMEOUT_MS, read_topic, unique

pytestmark = pytest.mark.integration

TOKEN = "prom-remote-write-token"
EXPOSITION = b"""# TYPE http_requests_total counter
http_requests_total{app="shop",track="canary",version="v2",deployment_id="d-42",code="200"} 1234
http_requests_total{app="shop",track="stable",version="v1",code="500"} 7
# TYPE queue_depth gauge
queue_depth{app="shop",track="canary"} NaN
# TYPE checkout_cart_items gauge
checkout_cart_items{app="shop"} 3
# TYPE http_in_flight gauge
http_in_flight 5
"""


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(EXPOSITION)))
        self.end_headers()
        self.wfile.write(EXPOSITION)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def scrape_target() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def api(settings: Settings, topic: str) -> Iterator[tuple[int, Any]]:
    """The ingest router in a uvicorn server on a free port (thread)."""
    router = wire_ingest.build_router(settings, topic=topic)
    app = FastAPI()
    app.include_router(router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield port, router.ingest_service  # type: ignore[attr-defined]
    finally:
        server.should_exit = True
        thread.join(10)
        router.ingest_service.pump.close(5)  # type: ignore[attr-defined]


@contextlib.contextmanager
def prometheus(tmp: Path, target_port: int, api_port: int) -> Iterator[subprocess.Popen[bytes]]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    cfg = tmp / "prometheus.yml"
    cfg.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: shop
    static_configs: [{{targets: ["127.0.0.1:{target_port}"]}}]
remote_write:
  - url: http://127.0.0.1:{api_port}/api/v1/write
    authorization: {{credentials: {TOKEN}}}
    remote_timeout: 5s
    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}
    metadata_config: {{send: false}}
""")
    log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{free_port()}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _has_both_tracks(msgs: list[Any]) -> bool:
    tracks = {
        s.track
        for m in msgs
        for s in MetricBatch.model_validate_json(m.value()).series
        if s.name == "http_requests_total"
    }
    return {"canary", "stable"} <= tracks


def _wait(check: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_prometheus_remote_write_reaches_kafka_and_clickhouse(
    kafka_bootstrap: str, make_topics: Callable[..., list[str]], tmp_path: Path
) -> None:
    topic = make_topics(unique("metrics"))[0]
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        ingest_token=TOKEN,
        metric_allow=r"http_requests_total|queue_depth|http_in_flight",
    )
    with (
        scrape_target() as target_port,
        api(settings, topic) as (api_port, service),
        prometheus(tmp_path, target_port, api_port),
    ):
        msgs = read_topic(kafka_bootstrap, topic, _has_both_tracks, timeout_s=90)
        stats = httpx.get(
            f"http://127.0.0.1:{api_port}/v1/ingest/stats",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()
    assert msgs, (tmp_path / "prometheus.log").read_text()[-2000:]
    batches = [MetricBatch.model_validate_json(m.value() or b"") for m in msgs]
    assert {m.key() for m in msgs} == {b"shop"} and {b.app for b in batches} == {"shop"}
    series = [s for b in batches for s in b.series]
    # allow-list: checkout_cart_items never passes; http_in_flight has no app label
    assert {s.name for s in series} <= {"http_requests_total", "queue_depth"}
    canary = next(s for s in series if s.name == "http_requests_total" and s.track == "canary")
    assert (canary.version, canary.deployment_id) == ("v2", "d-42")
    assert canary.labels == {"code": "200", "job": "shop", "instance": f"127.0.0.1:{target_port}"}
    assert set(canary.values) == {1234.0}
    stable = next(s for s in series if s.name == "http_requests_total" and s.track == "stable")
    assert (stable.version, stable.deployment_id, set(stable.values)) == ("v1", None, {7.0})
    depth = [v for s in series if s.name == "queue_depth" for v in s.values]
    assert depth and set(depth) == {None}  # NaN travels as null
    assert stats["accepted_samples"] >= len(canary.values) and stats["dropped_samples"] > 0
    assert stats["rejected_requests"] == 0 and stats["published_batches"] >= len(msgs)

    store = HistoryStore(f"chdb://{tmp_path / 'chdb'}").open()
    stop = threading.Event()
    writer = HistoryWriter(
        store,
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": unique("hist"),
            "session.timeout.ms": SESSION_TIMEOUT_MS,
        },
        [topic],
        batch_size=100,
        flush_interval_s=0.2,
    )
    thread = threading.Thread(target=writer.run, args=(stop,), daemon=True)
    thread.start()
    sql = (
        "SELECT track, version, deployment_id, labels['code'] AS code, value "
        "FROM metric_samples FINAL WHERE app = 'shop' AND name = 'http_requests_total'"
    )
    try:
        assert _wait(lambda: {r["track"] for r in store.query(sql)} >= {"canary", "stable"})
        rows = {
            (r["track"], r["version"], r["deployment_id"], r["code"], r["value"])
            for r in store.query(sql)
        }
    finally:
        stop.set()
        thread.join(15)
        store.close()
    assert rows == {("canary", "v2", "d-42", "200", 1234.0), ("stable", "v1", "", "500", 7.0)}
