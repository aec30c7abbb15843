"""Composition root: builds every component of a process from one Settings object.

``smartdeploy up`` builds all of them in one process (sharing one ClickHouse
store, because an embedded path can be opened by one process only); the
production commands build one each (``smartdeploy.processes``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import APIRouter, FastAPI

from api.live import InMemoryLiveFeed
from models.prediction import SuccessPredictor
from models.strategy import StrategyRecommender
from schemas import DeploymentRequested
from smartdeploy.history import HistoryStore
from smartdeploy.kafka_io import KafkaPublisher
from smartdeploy.settings import Settings
from smartdeploy.wiring import build_pipeline
from streams.pipeline import Pipeline

log = logging.getLogger("smartdeploy.components")


@dataclass
class Components:
    """What ``up`` runs: the worker in the event loop, blocking loops in threads, the API."""

    worker: Any
    api: FastAPI
    threads: dict[str, Callable[[threading.Event], Any]] = field(default_factory=dict)
    closers: list[Callable[[], Any]] = field(default_factory=list)

    def close(self) -> None:
        for fn in reversed(self.closers):
            try:
                fn()
            except Exception:  # closing must go on for the others
                log.exception("closing %s failed", fn)


def model_routers(
    get_pipeline: Callable[[], Pipeline],
) -> list[tuple[APIRouter, str | None]]:
    """What-if prediction and strategy recommendation against a pipeline's models."""
    from api.routes_predict import build_predict_router
    from api.routes_strategy import build_strategy_router

    def p_failure(req: DeploymentRequested) -> float:
        return float(get_pipeline().predictor.what_if(req).p_failure)  # type: ignore[attr-defined]

    def predictor() -> SuccessPredictor:
        return cast(SuccessPredictor, get_pipeline().predictor)

    def strategist() -> StrategyRecommender:
        return cast(StrategyRecommender, get_pipeline().strategist)

    return [
        (build_predict_router(predictor), "viewer"),
        (build_strategy_router(strategist, p_failure), "viewer"),
    ]


def build_api_app(
    settings: Settings,
    store: HistoryStore,
    publisher: KafkaPublisher,
    get_pipeline: Callable[[], Pipeline],
    live: InMemoryLiveFeed,
    readiness: Callable[[], dict[str, bool]] | None = None,
) -> FastAPI:
    """The API with ingest, prediction and strategy routers mounted."""
    from smartdeploy.wire_api import build_api
    from smartdeploy.wire_ingest import build_router as build_ingest_router

    routers: list[tuple[APIRouter, Any]] = [(build_ingest_router(settings), None)]
    routers += model_routers(get_pipeline)
    return build_api(settings, store, publisher, routers, live, readiness)


def build_components(settings: Settings) -> Components:
    """Everything of the embedded stack, wired; nothing started yet."""
    from smartdeploy.history import build_history_writer
    from smartdeploy.wire_api import KafkaLiveFeeder
    from smartdeploy.wire_executor import build_executor
    from streams.app import build_worker

    store = HistoryStore.from_settings(settings).open()
    publisher = KafkaPublisher(settings)
    worker = build_worker(settings, lambda: build_pipeline(settings))
    live = InMemoryLiveFeed()
    writer = build_history_writer(settings, store)
    executor = build_executor(settings)
    feeder = KafkaLiveFeeder(settings, live)

    def readiness() -> dict[str, bool]:
        return {"worker": bool(worker.stats.get("running")), "history": writer_alive()}

    def writer_alive() -> bool:
        return not getattr(writer, "failed", False)

    app = build_api_app(settings, store, publisher, lambda: worker.pipeline, live, readiness)
    return Components(
        worker=worker,
        api=app,
        threads={"history": writer.run, "executor": executor.run, "live-feed": feeder.run},
        closers=[store.close, publisher.close],
    )
