"""Production mode: each component as its own process (DESIGN §4).

``smartdeploy worker|executor|history|api`` against a real Kafka cluster and a
ClickHouse server. Each stops cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from smartdeploy.settings import Settings
from streams.pipeline import Pipeline

log = logging.getLogger("smartdeploy")


def _require_kafka(settings: Settings) -> None:
    if settings.embedded_broker:
        raise SystemExit(
            "SMARTDEPLOY_KAFKA_BOOTSTRAP is not set: production processes need a Kafka "
            "cluster (use `smartdeploy up` for the embedded stack)"
        )


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def run_worker_process(settings: Settings) -> int:
    from smartdeploy.wiring import build_pipeline
    from streams.app import run_worker_forever

    _logging()
    _require_kafka(settings)
    return run_worker_forever(settings, lambda: build_pipeline(settings))


def run_executor_process(settings: Settings) -> int:
    from smartdeploy.wire_executor import build_executor

    _logging()
    _require_kafka(settings)
    stop = _stop_on_signals()
    build_executor(settings).run(stop)
    return 0


def run_history_process(settings: Settings) -> int:
    from smartdeploy.history import HistoryStore, build_history_writer

    _logging()
    _require_kafka(settings)
    stop = _stop_on_signals()
    store = HistoryStore.from_settings(settings)
    try:
        build_history_writer(settings, store).run(stop)
    finally:
        store.close()
    return 0


def run_api_process(settings: Settings) -> int:
    """The API alone: reads ClickHouse, publishes overrides/events, serves the UI.

    What-if prediction and strategy use the worker's latest checkpoint when this
    process can read it (shared ``data_dir``), else fresh models.
    """
    import uvicorn

    from api.live import InMemoryLiveFeed
    from smartdeploy.components import build_api_app
    from smartdeploy.history import HistoryStore
    from smartdeploy.kafka_io import KafkaPublisher
    from smartdeploy.wire_api import KafkaLiveFeeder

    _logging()
    _require_kafka(settings)
    store = HistoryStore.from_settings(settings)
    publisher = KafkaPublisher(settings)
    live = InMemoryLiveFeed()
    models = _CheckpointModels(settings)
    app = build_api_app(settings, store, publisher, models.get, live)
    stop = threading.Event()
    feeder = threading.Thread(target=KafkaLiveFeeder(settings, live).run, args=(stop,), daemon=True)
    feeder.start()
    try:
        uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info")
    finally:
        stop.set()
        store.close()
        publisher.close()
    return 0


class _CheckpointModels:
    """The worker's pipeline as of its latest checkpoint, reloaded at most every 60 s."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pipeline: Pipeline | None = None
        self._loaded_at = 0.0

    def get(self) -> Pipeline:
        import time

        from smartdeploy.wiring import build_pipeline, latest_checkpoint_pipeline

        now = time.monotonic()
        if self._pipeline is None or now - self._loaded_at > 60:
            self._pipeline = latest_checkpoint_pipeline(self.settings) or (
                self._pipeline or build_pipeline(self.settings)
            )
            self._loaded_at = now
        return self._pipeline
