"""``smartdeploy up``: the whole product in one process (DESIGN §4, embedded mode).

One process because an embedded ClickHouse path can be opened by one process
only: the history writer and the API share one store. Order of start: broker →
topics → store → worker → executor / history / live-feed threads → API. SIGINT or
SIGTERM stops them in reverse, the broker last, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from schemas import topics as t
from smartdeploy.broker import EmbeddedBroker
from smartdeploy.components import Components, build_components
from smartdeploy.kafka_io import ensure_topics
from smartdeploy.settings import Settings

log = logging.getLogger("smartdeploy.stack")


@contextlib.contextmanager
def _broker(settings: Settings, console: Console) -> Iterator[Settings]:
    """Start the embedded broker unless Kafka is configured; yield settings pointing at it."""
    if not settings.embedded_broker:
        console.print(f"using Kafka at {settings.kafka_bootstrap}")
        yield settings
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(
        port=settings.embedded_broker_port, log_path=settings.data_dir / "broker.log"
    )
    broker.start()
    console.print(f"embedded broker (Tansu) on {broker.bootstrap}")
    try:
        yield settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
    finally:
        broker.stop()
        console.print("broker stopped")


def _threads(
    targets: dict[str, Callable[[threading.Event], Any]], stop: threading.Event
) -> list[threading.Thread]:
    threads = []
    for name, target in targets.items():
        th = threading.Thread(target=_guarded(name, target, stop), name=name, daemon=True)
        th.start()
        threads.append(th)
    return threads


def _guarded(
    name: str, target: Callable[[threading.Event], Any], stop: threading.Event
) -> Callable[[], None]:
    def run() -> None:
        try:
            target(stop)
        except Exception:  # a component dying must be loud, and must not hang `up`
            log.exception("%s crashed; stopping the stack", name)
            stop.set()
            signal.raise_signal(signal.SIGTERM)

    return run


async def _serve(
    settings: Settings, parts: Components, stop: threading.Event, console: Console
) -> None:
    import uvicorn

    await parts.worker.start()
    config = uvicorn.Config(
        parts.api,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    console.print(f"API and UI on http://{settings.api_host}:{settings.api_port}")

    async def watch_stop() -> None:
        crashed = asyncio.ensure_future(parts.worker.wait())
        while not stop.is_set() and not crashed.done():
            await asyncio.sleep(0.2)
        if crashed.done():
            console.print("[red]worker stopped unexpectedly; stopping the stack[/red]")
        crashed.cancel()
        server.should_exit = True

    watcher = asyncio.create_task(watch_stop())
    try:
        await server.serve()
    finally:
        stop.set()
        watcher.cancel()
        await parts.worker.stop()


def write_stack_info(path: Path, kafka_bootstrap: str, api_url: str) -> None:
    """Written by ``smartdeploy up`` so the demo and tools find the running stack."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"kafka_bootstrap": kafka_bootstrap, "api_url": api_url}), encoding="utf-8"
    )


def run_stack(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; return the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    console = Console()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with _broker(settings, console) as live:
        ensure_topics(live, t.ALL_TOPICS, live.kafka_partitions)
        parts = build_components(live)
        write_stack_info(
            live.data_dir / "stack.json",
            live.kafka_bootstrap or "",
            f"http://{live.api_host}:{live.api_port}",
        )
        threads = _threads(parts.threads, stop)
        try:
            asyncio.run(_serve(live, parts, stop, console))
        finally:
            stop.set()
            for th in threads:
                th.join(timeout=15)
            parts.close()
            (live.data_dir / "stack.json").unlink(missing_ok=True)
    console.print("stopped")
    return 0
