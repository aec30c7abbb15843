"""``smartdeploy demo``: a realistic hour of deployments against a running stack.

The demo plays the CI/CD system and the services: it publishes CI events and
metric batches to the stack's Kafka, follows the strategy smartdeploy chooses,
and when smartdeploy sends a rollback command it rolls the new version back
(stops its traffic) and reports the deployment ``rolled_back``, as a CD system
would. Event time runs ``speed`` times faster than the wall clock.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from confluent_kafka import Consumer, Producer, TopicPartition
from pydantic import BaseModel
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from schemas import topics as t
from smartdeploy.scenario import ROLLOUTS, Scenario, backfill, deployment_id
from smartdeploy.settings import Settings

WATCHED = (t.PREDICTIONS, t.DECISIONS, t.ROLLBACKS, t.ACTIONS)


@dataclass
class Seen:
    """What the demo saw smartdeploy decide, per deployment of the scenario."""

    p_failure: dict[str, float] = field(default_factory=dict)
    strategy: dict[str, str] = field(default_factory=dict)
    rollback: dict[str, str] = field(default_factory=dict)
    action: dict[str, str] = field(default_factory=dict)


def stack_info(settings: Settings) -> dict[str, Any]:
    """Kafka bootstrap and API URL of the running stack (``var/stack.json``, else settings)."""
    path = settings.data_dir / "stack.json"
    info: dict[str, Any] = {}
    if path.exists():
        info = json.loads(path.read_text(encoding="utf-8"))
    if settings.kafka_bootstrap:
        info["kafka_bootstrap"] = settings.kafka_bootstrap
    info.setdefault("api_url", f"http://{settings.api_host}:{settings.api_port}")
    if not info.get("kafka_bootstrap"):
        raise SystemExit(f"no running stack found ({path} missing): start it with `make run`")
    return info


def _consumer(conf: dict[str, str]) -> Consumer:
    consumer = Consumer(
        {
            **conf,
            "group.id": f"smartdeploy-demo-{time.time_ns()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",
        }
    )
    parts = []
    for topic in WATCHED:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        for p in meta.partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            parts.append(TopicPartition(topic, p, high))
    consumer.assign(parts)
    return consumer


def _publish(producer: Producer, topic: str, record: BaseModel) -> None:
    key = str(getattr(record, "app", ""))
    producer.produce(topic, key=key.encode(), value=record.model_dump_json().encode())
    producer.poll(0)


def _drain(consumer: Consumer, seen: Seen, scenario: Scenario, now_min: float) -> None:
    ours = {deployment_id(r) for r in ROLLOUTS}
    for msg in consumer.consume(num_messages=500, timeout=0.05):
        if msg.error() is not None:
            continue
        doc = json.loads(msg.value() or b"{}")
        dep = doc.get("deployment_id")
        if dep not in ours:
            continue
        kind = doc.get("type")
        if kind == "prediction":
            seen.p_failure[dep] = float(doc["p_failure"])
        elif kind == "strategy.decision":
            seen.strategy[dep] = doc["strategy"]
            scenario.strategy_for[dep] = doc["strategy"]
        elif kind == "rollback.command":
            seen.rollback.setdefault(dep, doc.get("reason", ""))
            scenario.rolled_back(dep, now_min + 0.5)
        elif kind == "action.result":
            seen.action[dep] = doc.get("status", "")


def _table(seen: Seen, scenario: Scenario) -> Table:
    table = Table(title="deployments", expand=True)
    for col in ("deployment", "p_failure", "strategy", "rollback", "executor", "outcome"):
        table.add_column(col)
    outcomes = scenario.outcomes()
    for r in ROLLOUTS:
        dep = deployment_id(r)
        if dep not in seen.p_failure and dep not in outcomes:
            continue
        p = seen.p_failure.get(dep)
        table.add_row(
            dep,
            f"{p:.2f}" if p is not None else "…",
            seen.strategy.get(dep, "…"),
            (seen.rollback.get(dep) or "")[:60],
            seen.action.get(dep, ""),
            outcomes.get(dep, "in progress"),
        )
    return table


def run_demo(
    settings: Settings, api_url: str = "", minutes: float = 60.0, speed: float = 60.0, seed: int = 7
) -> int:
    console = Console()
    info = stack_info(settings)
    api = api_url or info["api_url"]
    try:
        httpx.get(f"{api}/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        console.print(f"[red]stack API at {api} is not healthy: {exc}[/red]")
        return 2
    conf = {"bootstrap.servers": info["kafka_bootstrap"]}
    producer = Producer({**conf, "linger.ms": 5, "enable.idempotence": False})
    consumer = _consumer(conf)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)
    history = backfill(start, seed)
    console.print(f"publishing {len(history)} past CI events to warm the models …")
    for ev in history:
        _publish(producer, t.DEPLOY_EVENTS, ev)
    producer.flush(30)
    scenario = Scenario(start, seed, reactive=True)
    scenario.minutes = minutes
    seen = Seen()
    progress = Progress(
        TextColumn("simulated"), BarColumn(), TextColumn("{task.description}"), TimeElapsedColumn()
    )
    task = progress.add_task("0 min", total=minutes)
    wall0 = time.monotonic()
    grid = Table.grid()
    with Live(grid, console=console, refresh_per_second=4) as live:
        while not scenario.finished:
            now_min = scenario.elapsed_s / 60.0
            for ev in scenario.step():
                topic = t.METRICS if ev.__class__.__name__ == "MetricBatch" else t.DEPLOY_EVENTS
                _publish(producer, topic, ev)
            producer.flush(10)
            due = wall0 + scenario.elapsed_s / speed
            while time.monotonic() < due:
                _drain(consumer, seen, scenario, now_min)
            progress.update(task, completed=min(minutes, now_min), description=f"{now_min:.0f} min")
            grid = Table.grid()
            grid.add_row(progress)
            grid.add_row(_table(seen, scenario))
            live.update(grid)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            _drain(consumer, seen, scenario, minutes)
    consumer.close()
    return _summary(console, api, seen, scenario, settings)


def _summary(console: Console, api: str, seen: Seen, scenario: Scenario, settings: Settings) -> int:
    console.print(_table(seen, scenario))
    rolled = [d for d, o in scenario.outcomes().items() if o == "rolled_back"]
    console.print(
        f"predicted {len(seen.p_failure)} deployments, chose strategies "
        f"{sorted(set(seen.strategy.values()))}, rolled back {len(rolled)}: {rolled}"
    )
    headers = {}
    token = next(iter(settings.api_tokens), None)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for _ in range(40):
        try:
            resp = httpx.get(
                f"{api}/v1/deployments",
                params={"outcome": "rolled_back"},
                headers=headers,
                timeout=5,
            )
            items = resp.json().get("items", []) if resp.status_code == 200 else []
        except httpx.HTTPError:
            items = []
        if len(items) >= len(rolled):
            break
        time.sleep(0.5)
    console.print(
        f"GET /v1/deployments?outcome=rolled_back → {len(items)} item(s); open {api}/ to explore"
    )
    return 0
