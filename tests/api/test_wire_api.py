"""Composition of the API: settings → tokens, policy file, cache fed by the live feed,
and the Kafka live feeder against the session's real broker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.live import CachedReader, InMemoryLiveFeed
from schemas import Override
from smartdeploy.kafka_io import KafkaPublisher
from smartdeploy.settings import Settings
from smartdeploy.wire_api import FilePolicyStore, KafkaLiveFeeder, auth_config, build_api
from tests.api.conftest import T0
from tests.api.demo import full_deployment
from tests.api.fakes import FakeHistory, FakePublisher
from tests.runtime.kafka_helpers import unique


def test_tokens_from_settings() -> None:
    settings = Settings(api_tokens={"abc": SecretStr("admin:ann")},
                        ingest_token=SecretStr("ci-secret"))
    cfg = auth_config(settings)
    assert cfg.enabled
    assert cfg.identify("abc") is not None and cfg.identify("abc").actor == "ann"  # type: ignore[union-attr]
    ingest = cfg.identify("ci-secret")
    assert ingest is not None and ingest.ingest and ingest.role is None
    assert not auth_config(Settings()).enabled


def test_file_policy_store_replaces_atomically(tmp_path: Path) -> None:
    store = FilePolicyStore(tmp_path / "conf" / "policies.yaml")
    assert store.read() == {"version": "builtin", "text": ""}
    version = store.write("apps: {}\n")
    assert store.read() == {"version": version, "text": "apps: {}\n"}
    assert [p.name for p in (tmp_path / "conf").iterdir()] == ["policies.yaml"]


def test_build_api_caches_details_and_live_records_refresh_them(tmp_path: Path) -> None:
    history = FakeHistory()
    for rec in full_deployment("d1", "web", T0):
        history.add(rec)
    live = InMemoryLiveFeed()
    app = build_api(Settings(data_dir=tmp_path, api_cache_warm=0), history, FakePublisher(),
                    live_feed=live)
    assert isinstance(app.state.cache, CachedReader)
    client = TestClient(app)
    assert client.get("/v1/deployments/d1").json()["held"] is False
    hold = Override(occurred_at=T0, deployment_id="d1", app="web", action="hold", reason="r",
                    actor="olga")
    history.add(hold)
    assert client.get("/v1/deployments/d1").json()["held"] is False  # cached, not yet told
    live.publish(hold.model_dump(mode="json"))
    assert client.get("/v1/deployments/d1").json()["held"] is True
    assert "smartdeploy_api_cache_hits 1.0" in client.get("/metrics").text


def test_build_api_warms_the_newest_deployments(tmp_path: Path) -> None:
    history = FakeHistory()
    for i in range(3):
        for rec in full_deployment(f"d{i}", "web", T0):
            history.add(rec)
    app = build_api(Settings(data_dir=tmp_path, api_cache_warm=2), history, FakePublisher())
    app.state.cache_warmer.join(timeout=30)
    assert sorted(app.state.cache._entries) == ["d1", "d2"]


@pytest.mark.integration
def test_kafka_live_feeder_tails_topics_from_the_end(kafka_bootstrap: str,
                                                     make_topics: object) -> None:
    topic = unique("live")
    make_topics(topic)  # type: ignore[operator]
    settings = Settings(kafka_bootstrap=kafka_bootstrap)
    feed = InMemoryLiveFeed()
    got: list[dict[str, object]] = []
    seen = threading.Event()

    def listen(record: dict[str, object]) -> None:
        got.append(record)
        seen.set()

    feed.add_listener(listen)
    stop = threading.Event()
    feeder = KafkaLiveFeeder(settings, feed, topics=[topic], poll_s=0.2)
    thread = threading.Thread(target=feeder.run, args=(stop,), daemon=True)
    thread.start()
    publisher = KafkaPublisher(kafka_bootstrap)
    try:
        deadline = time.monotonic() + 60
        while not seen.wait(0.5):  # the feeder starts at the end: publish until it is assigned
            assert time.monotonic() < deadline, "feeder never delivered"
            publisher.publish(topic, "web", Override(occurred_at=T0, deployment_id="d1",
                                                    action="hold", reason="r", actor="a"))
    finally:
        stop.set()
        thread.join(timeout=30)
        publisher.close()
    assert got[0]["type"] == "override" and got[0]["topic"] == topic
    assert not thread.is_alive()
