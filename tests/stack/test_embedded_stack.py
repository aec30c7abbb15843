"""The walking skeleton end to end: a real ``smartdeploy up`` (Tansu + Faust + chdb + API).

Events are published with confluent-kafka exactly as a CI system would; the test
watches the output topics, reads the history back through the API and, after
SIGTERM, straight from the embedded ClickHouse files.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from confluent_kafka import Consumer, Producer

from schemas import DeploymentRequested, DeploymentStarted, MetricBatch
from schemas import topics as t
from smartdeploy.scenario import recorded_stream
from smartdeploy.traffic import SCRAPE_S, Counters, Service, scrape, series_of
from tests.stack.conftest import AUTH, TOKEN, RunningStack

BAD = ("checkout-1.8.0", "payments-3.1.0")


def _publish(bootstrap: str, items: list[tuple[str, str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for topic, key, value in items:
        producer.produce(topic, key=key.encode(), value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def _collect(bootstrap: str, topics: list[str], want, timeout_s: float) -> list[dict]:  # type: ignore[no-untyped-def]
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe(topics)
    seen: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not want(seen):
            for msg in consumer.consume(200, timeout=0.5):
                if msg.error() is None:
                    doc = json.loads(msg.value())
                    doc["_topic"] = msg.topic()
                    seen.append(doc)
    finally:
        consumer.close()
    return seen


def _have_all_stages(seen: list[dict]) -> bool:
    kinds = {(d.get("deployment_id"), d["_topic"]) for d in seen}
    stages = (t.PREDICTIONS, t.DECISIONS, t.ROLLBACKS, t.ACTIONS)
    return all((dep, topic) in kinds for dep in BAD for topic in stages)


def test_events_yield_prediction_decision_rollback_and_action(stack: RunningStack) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    stream = recorded_stream(start, seed=11, minutes=40)
    # Paced like a live stream (a scrape interval's events at a time): deploy events and
    # metrics travel on different topics, so only their rough order is guaranteed.
    producer = Producer({"bootstrap.servers": stack.bootstrap, "linger.ms": 2})
    last = None
    for e in stream:
        when = e.occurred_at  # type: ignore[attr-defined]
        if last is not None and when != last:
            producer.flush(10)
            time.sleep(0.03)
        last = when
        kind = e.type  # type: ignore[attr-defined]
        topic = t.METRICS if kind == "metrics.batch" else t.DEPLOY_EVENTS
        key = e.app.encode()  # type: ignore[attr-defined]
        producer.produce(topic, key=key, value=e.model_dump_json().encode())
    assert producer.flush(30) == 0
    seen = _collect(
        stack.bootstrap, [t.PREDICTIONS, t.DECISIONS, t.ROLLBACKS, t.ACTIONS], _have_all_stages, 240
    )
    assert _have_all_stages(seen), sorted(
        {(d.get("deployment_id"), d["_topic"]) for d in seen if d.get("deployment_id") in BAD}
    )
    rolled = {d["deployment_id"] for d in seen if d["_topic"] == t.ROLLBACKS}
    assert not rolled & {"catalog-2.3.0", "search-5.0.1", "frontend-9.4.0"}
    actions = [d for d in seen if d["_topic"] == t.ACTIONS and d["deployment_id"] in BAD]
    assert {a["status"] for a in actions} == {"dry_run"}

    # …and the history (ClickHouse) serves them through the API.
    deadline = time.monotonic() + 120
    kinds: set[str] = set()
    while time.monotonic() < deadline:
        resp = httpx.get(f"{stack.api}/v1/deployments/payments-3.1.0", headers=AUTH, timeout=10)
        if resp.status_code == 200:
            kinds = {r["type"] for r in resp.json()["timeline"]}
            if {"prediction", "strategy.decision", "rollback.command", "action.result"} <= kinds:
                break
        time.sleep(1)
    assert {
        "deployment.requested",
        "prediction",
        "strategy.decision",
        "rollback.command",
        "action.result",
    } <= kinds
    page = httpx.get(
        f"{stack.api}/v1/deployments", params={"outcome": "rolled_back"}, headers=AUTH, timeout=10
    ).json()
    assert set(BAD) <= {i["deployment_id"] for i in page["items"]}
    assert "next" in page


def test_poison_messages_go_to_the_dlq_and_the_worker_keeps_going(stack: RunningStack) -> None:
    now = datetime.now(UTC)
    good = DeploymentRequested(
        occurred_at=now, deployment_id="after-poison-1", app="ledger", version="2.0.0"
    )
    invalid = {
        "type": "deployment.requested",
        "occurred_at": now.isoformat(),
        "deployment_id": "bad-1",
        "app": "ledger",
        "version": "1",
        "risk_tolerance": 7,
    }
    _publish(
        stack.bootstrap,
        [
            (t.DEPLOY_EVENTS, "ledger", b"\x00not json at all"),
            (t.DEPLOY_EVENTS, "ledger", json.dumps(invalid).encode()),
            (t.DEPLOY_EVENTS, "ledger", good.model_dump_json().encode()),
        ],
    )

    def done(seen: list[dict]) -> bool:
        dead = [d for d in seen if d["_topic"] == t.DLQ]
        preds = [d for d in seen if d.get("deployment_id") == "after-poison-1"]
        return len(dead) >= 2 and bool(preds)

    seen = _collect(stack.bootstrap, [t.DLQ, t.PREDICTIONS], done, 120)
    dead = [d for d in seen if d["_topic"] == t.DLQ]
    assert len(dead) >= 2, seen
    assert any("risk_tolerance" in d["error"] for d in dead)
    assert any("json" in d["error"].lower() for d in dead)
    assert any(d.get("deployment_id") == "after-poison-1" for d in seen)


def _live_metrics(app: str, dep: str, start: datetime, scrapes: int) -> list[MetricBatch]:
    """Healthy stable + canary scrapes of one service, as Prometheus would remote-write them."""
    rng = random.Random(5)
    svc = Service(app, "api", 100, 0.05, 0.002)
    stable, canary = Counters(), Counters()
    out = []
    for k in range(scrapes):
        at = start + timedelta(seconds=SCRAPE_S * k)
        ts = int(at.timestamp() * 1000)
        scrape(rng, stable, svc, svc.p50_s, svc.error_rate, 0.9)
        scrape(rng, canary, svc, svc.p50_s, svc.error_rate, 0.1)
        series = series_of(svc, "1.0.0", "stable", None, stable, ts)
        series += series_of(svc, "1.1.0", "canary", dep, canary, ts)
        out.append(MetricBatch(occurred_at=at, app=app, series=series))
    return out


def test_browser_watches_a_live_deployment_and_places_a_hold(stack: RunningStack) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(tempfile.mkdtemp(prefix="smartdeploy-stack-ui-"))
    print(f"\nscreenshots: {shots}")
    start = datetime.now(UTC).replace(microsecond=0)
    dep, app = "inventory-1.1.0", "inventory"
    req = DeploymentRequested(
        occurred_at=start,
        deployment_id=dep,
        app=app,
        version="1.1.0",
        previous_version="1.0.0",
        app_type="api",
    )
    started = DeploymentStarted(
        occurred_at=start + timedelta(seconds=5),
        deployment_id=dep,
        app=app,
        version="1.1.0",
        strategy="canary",
    )
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(stack.api + "/")
        page.fill("#token-input", TOKEN)
        page.click("#token-form button")
        expect(page.locator("#stream-status")).to_have_attribute("data-state", "live")
        _publish(
            stack.bootstrap,
            [(t.DEPLOY_EVENTS, app, e.model_dump_json().encode()) for e in (req, started)],
        )
        card = page.locator(f'[data-testid="live-card"][data-deployment="{dep}"]')
        expect(card).to_be_visible(timeout=60_000)
        for batch in _live_metrics(app, dep, start + timedelta(seconds=10), 12):
            _publish(stack.bootstrap, [(t.METRICS, app, batch.model_dump_json().encode())])
            time.sleep(0.2)
        expect(card.get_by_test_id("verdict")).to_have_text(
            re.compile("healthy|inconclusive"), timeout=60_000
        )
        page.screenshot(path=str(shots / "1-live.png"), full_page=True)

        card.locator("a.dep-title").click()
        expect(page.get_by_test_id("detail")).to_have_attribute("data-deployment", dep)
        expect(page.get_by_test_id("p-failure")).to_be_visible(timeout=60_000)
        page.get_by_test_id("btn-hold").click()
        page.fill("#override-reason", "holding for a database migration window")
        page.click("#override-submit")
        expect(page.get_by_test_id("detail").get_by_test_id("held")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(shots / "2-detail-held.png"), full_page=True)

        page.click('a[data-nav="audit"]')
        row = page.get_by_test_id("audit-row").filter(has_text=dep).first
        expect(row).to_contain_text("override.hold", timeout=60_000)
        expect(row).to_contain_text("olga")
        expect(row).to_contain_text("holding for a database migration window")
        page.screenshot(path=str(shots / "3-audit.png"), full_page=True)
        browser.close()


def _pids_with(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(entry.name))
    return pids


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(x) for x in out.split()]


def test_sigterm_stops_everything_broker_included(stack: RunningStack) -> None:
    port = stack.bootstrap.rsplit(":", 1)[1]
    broker_pids = _pids_with(f"127.0.0.1:{port}")
    assert broker_pids, "the embedded broker should be running before SIGTERM"
    children = _children(stack.proc.pid)
    os.kill(stack.proc.pid, signal.SIGTERM)
    assert stack.proc.wait(90) == 0, stack.log.read_text()[-4000:]
    time.sleep(1)
    assert _pids_with(f"127.0.0.1:{port}") == []
    assert [p for p in children if Path(f"/proc/{p}").exists()] == []
    # the history is on disk: open the embedded ClickHouse now that `up` released it
    code = (
        "import clickhouse_connect,sys,json;"
        f"c=clickhouse_connect.get_client(dsn='chdb://{stack.data_dir / 'chdb'}');"
        "print(json.dumps({t: c.query(f'SELECT count() FROM {t}').result_rows[0][0] "
        "for t in ('predictions','decisions','rollbacks','actions')}))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    counts = json.loads(res.stdout.strip().splitlines()[-1])
    assert all(counts[k] >= 2 for k in ("rollbacks", "actions")), counts
    assert counts["predictions"] > 200 and counts["decisions"] > 200, counts
