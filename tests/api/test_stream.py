"""The SSE stream delivers records published on the live feed while a client listens."""

from __future__ import annotations

import json
import threading

from fastapi.testclient import TestClient

from api.live import InMemoryLiveFeed
from tests.api.conftest import bearer


def _frames(text: str) -> list[dict[str, str]]:
    out = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if fields:
            out.append(fields)
    return out


def _publish_when_listening(live: InMemoryLiveFeed, records: list[dict[str, object]]) -> None:
    def run() -> None:
        assert live.wait_for_subscribers(1, timeout=30)
        for rec in records:
            live.publish(rec)

    threading.Thread(target=run, daemon=True).start()


def test_sse_delivers_records_published_while_connected(
    client: TestClient, live: InMemoryLiveFeed
) -> None:
    _publish_when_listening(
        live,
        [
            {"type": "verdict", "deployment_id": "d1", "state": "healthy"},
            {"type": "deployment.step", "deployment_id": "d1", "step": 2},
        ],
    )
    r = client.get("/v1/stream", params={"limit": 2}, headers=bearer("viewer"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    frames = _frames(r.text)
    assert [f["event"] for f in frames] == ["verdict", "deployment.step"]
    assert json.loads(frames[1]["data"])["step"] == 2
    assert int(frames[1]["id"]) > int(frames[0]["id"])
    assert live.subscriber_count == 0  # closed stream unsubscribes


def test_sse_filters_by_deployment(client: TestClient, live: InMemoryLiveFeed) -> None:
    _publish_when_listening(
        live,
        [
            {"type": "verdict", "deployment_id": "other"},
            {"type": "verdict", "deployment_id": "mine"},
        ],
    )
    r = client.get(
        "/v1/stream", params={"limit": 1, "deployment_id": "mine"}, headers=bearer("viewer")
    )
    [frame] = _frames(r.text)
    assert json.loads(frame["data"])["deployment_id"] == "mine"


def test_sse_replays_recent_records_on_connect(client: TestClient, live: InMemoryLiveFeed) -> None:
    for i in range(5):
        live.publish({"type": "kpi.window", "deployment_id": "d", "value": i})
    r = client.get("/v1/stream", params={"limit": 2, "replay": 2}, headers=bearer("viewer"))
    assert [json.loads(f["data"])["value"] for f in _frames(r.text)] == [3, 4]


def test_sse_requires_a_token(client: TestClient) -> None:
    assert client.get("/v1/stream", params={"limit": 1}).status_code == 401


def test_sse_resumes_after_last_event_id(client: TestClient, live: InMemoryLiveFeed) -> None:
    for i in range(4):
        live.publish({"type": "verdict", "deployment_id": "d", "n": i})
    first = _frames(client.get("/v1/stream", params={"limit": 2, "replay": 4},
                               headers=bearer("viewer")).text)
    r = client.get("/v1/stream", params={"limit": 2},
                   headers={**bearer("viewer"), "Last-Event-ID": first[1]["id"]})
    assert [json.loads(f["data"])["n"] for f in _frames(r.text)] == [2, 3]
