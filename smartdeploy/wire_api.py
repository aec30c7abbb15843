"""Composition of the API process: settings → ports → ``create_app``; live feed from Kafka.

``build_api`` turns Settings into an ``ApiDeps`` (token table, policy file,
live feed) and builds the app. ``KafkaLiveFeeder`` tails the output topics with
a group-less consumer that starts at the end of every partition and commits
nothing: the UI wants what happens from now on, and many API replicas can each
tail the topics without stealing partitions from one another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI

from api.app import create_app
from api.auth import AuthConfig
from api.deps import ApiDeps
from api.live import CachedReader, InMemoryLiveFeed, LiveFeed
from api.ports import HistoryReader, Publisher
from schemas import topics as t
from smartdeploy.settings import Settings

log = logging.getLogger("smartdeploy.api")

#: What the UI shows live (metric batches are too many and too big for browsers).
LIVE_TOPICS: tuple[str, ...] = (
    t.DEPLOY_EVENTS, t.PREDICTIONS, t.DECISIONS, t.KPI, t.VERDICTS, t.ROLLBACKS, t.ACTIONS,
    t.OVERRIDES, t.AUDIT, t.MODEL_METRICS,
)


def auth_config(settings: Settings) -> AuthConfig:
    """Token table from ``SMARTDEPLOY_API_TOKENS`` (``{"token": "role[:name]"}``) and
    ``SMARTDEPLOY_INGEST_TOKEN``; both empty = auth disabled (local development)."""
    tokens = {tok: grant.get_secret_value() for tok, grant in settings.api_tokens.items()}
    ingest = [settings.ingest_token.get_secret_value()] if settings.ingest_token else []
    return AuthConfig(tokens=tokens, ingest_tokens=ingest)


def policies_path(settings: Settings) -> Path:
    """The policy file the API edits and the guard loads: configured, else under data_dir."""
    return settings.policies_file or (settings.data_dir / "policies.yaml")


class FilePolicyStore:
    """``api.ports.PolicyStore`` on one YAML file, replaced atomically (write + rename)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @staticmethod
    def _version(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:12] if text else "builtin"

    def read(self) -> dict[str, Any]:
        text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        return {"version": self._version(text), "text": text}

    def write(self, text: str) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".policies-", suffix=".yaml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self._version(text)


def build_api(
    settings: Settings,
    reader: HistoryReader,
    publisher: Publisher,
    extra_routers: Sequence[tuple[APIRouter, str | None]] = (),
    live_feed: LiveFeed | None = None,
    readiness: Callable[[], dict[str, bool]] | None = None,
) -> FastAPI:
    """The API app for these settings; ``live_feed`` defaults to a fresh in-memory feed.

    Deployment details are served through a ``CachedReader`` kept fresh by the live
    feed (``api_cache_entries``); the newest ``api_cache_warm`` deployments are loaded
    in a background thread (``app.state.cache_warmer``) so the first views are fast.
    """
    live = live_feed if live_feed is not None else InMemoryLiveFeed()
    cache: CachedReader | None = None
    if settings.api_cache_entries > 0:
        cache = CachedReader(reader, max_entries=settings.api_cache_entries)
        add_listener = getattr(live, "add_listener", None)
        if add_listener is not None:
            add_listener(cache.invalidate)
        else:  # no invalidation hook: keep every entry short-lived
            cache.ttl_done_s = cache.ttl_active_s
    deps = ApiDeps(
        reader=cache if cache is not None else reader, publisher=publisher,
        auth=auth_config(settings), live=live,
        policies=FilePolicyStore(policies_path(settings)),
        extra_routers=list(extra_routers), stream_max_s=settings.api_stream_max_s,
    )
    if readiness is not None:
        deps.readiness = readiness
    if not deps.auth.enabled:
        log.warning("API auth is DISABLED (no SMARTDEPLOY_API_TOKENS): local use only")
    app = create_app(deps)
    app.state.cache = cache
    app.state.cache_warmer = None
    if cache is not None and settings.api_cache_warm > 0:
        app.state.cache_warmer = threading.Thread(
            target=_warm, args=(cache, settings.api_cache_warm), name="api-cache-warm",
            daemon=True)
        app.state.cache_warmer.start()
    return app


def _warm(cache: CachedReader, recent: int) -> None:
    try:
        log.info("API cache warmed with %d deployments", cache.warm(recent))
    except Exception as exc:  # noqa: BLE001 - a cold cache is slower, not broken
        log.warning("API cache warm-up failed: %s", type(exc).__name__)


class KafkaLiveFeeder:
    """Tail ``topics`` from their end and publish every JSON record onto the live feed."""

    def __init__(self, settings: Settings, feed: LiveFeed,
                 topics: Sequence[str] = LIVE_TOPICS, poll_s: float = 0.5) -> None:
        self.settings = settings
        self.feed = feed
        self.topics = list(topics)
        self.poll_s = poll_s
        self.delivered = 0

    def _consumer(self) -> Any:
        from confluent_kafka import Consumer

        conf: dict[str, Any] = dict(self.settings.kafka_config())
        conf.update({
            # a unique throw-away group: librdkafka needs one to subscribe, but we never
            # commit, so it holds no offsets and steals no partitions from anyone
            "group.id": f"smartdeploy-api-live-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "latest",
            "session.timeout.ms": 6000,
            "topic.metadata.refresh.interval.ms": 5000,
        })
        consumer = Consumer(conf)
        consumer.subscribe(self.topics)
        return consumer

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; malformed messages are skipped, never fatal."""
        consumer = self._consumer()
        try:
            while not stop.is_set():
                msg = consumer.poll(self.poll_s)
                if msg is None or msg.error() is not None:
                    continue
                try:
                    doc = json.loads(msg.value())
                except (TypeError, ValueError):
                    continue
                if isinstance(doc, dict):
                    doc.setdefault("topic", msg.topic())
                    self.feed.publish(doc)
                    self.delivered += 1
        finally:
            consumer.close()
