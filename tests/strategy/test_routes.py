"""``POST /v1/strategy/recommend`` through a real FastAPI app and TestClient."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.routes_strategy import build_strategy_router
from models.strategy import StrategyRecommender
from models.strategy_constraints import parse_rules
from schemas import STRATEGIES, DeploymentRequested

RULES = parse_rules([{"name": "eu-no-shadow", "match": {"labels": {"region": "eu"}},
                      "exclude": ["shadow"], "reason": "mirrored traffic leaves the region"}])


def _p_failure(req: DeploymentRequested) -> float:
    """A stand-in predictor: more churn, more risk (the route must pass it through)."""
    return min(0.9, 0.05 + req.change.src_churn / 2000)


@pytest.fixture
def client() -> TestClient:
    rec = StrategyRecommender(extra_rules=RULES)
    app = FastAPI()
    app.include_router(build_strategy_router(lambda: rec, _p_failure))
    return TestClient(app)


BASE: dict[str, Any] = {"deployment_id": "dep-9", "app": "orders", "version": "7"}

# Combinations the table tests never built, each with what must and must not be excluded.
CASES: list[tuple[str, dict[str, Any], set[str], set[str]]] = [
    ("regulated stateful app with no room", {
        "app_type": "stateful", "compliance": ["pci-dss"], "resources": {"replicas": 3}},
     {"recreate", "canary", "shadow", "blue_green"}, {"rolling"}),
    ("tolerant batch job on a bare cluster", {
        "app_type": "batch", "risk_tolerance": 0.9, "resources": {"replicas": 1}},
     {"canary", "shadow", "blue_green"}, {"rolling", "recreate"}),
    ("mesh-enabled api with headroom", {
        "app_type": "api", "risk_tolerance": 0.2, "resources": {"spare_capacity": 2.0,
                                                                "replicas": 2},
        "capabilities": {"traffic_mirroring": True, "traffic_splitting": True}},
     {"recreate"}, {"canary", "shadow", "blue_green", "rolling"}),
    ("eu policy rule on top of built-ins", {
        "labels": {"region": "eu"}, "resources": {"spare_capacity": 1.0, "replicas": 8},
        "capabilities": {"traffic_mirroring": True, "traffic_splitting": False}},
     {"shadow"}, {"canary", "blue_green", "rolling", "recreate"}),
]


@pytest.mark.parametrize(("case", "body", "excluded", "allowed"), CASES,
                         ids=[c[0] for c in CASES])
def test_endpoint_applies_constraints_it_was_never_shown(
        client: TestClient, case: str, body: dict[str, Any], excluded: set[str],
        allowed: set[str]) -> None:
    res = client.post("/v1/strategy/recommend", json={**BASE, **body})
    assert res.status_code == 200, res.text
    doc = res.json()
    assert set(doc["excluded"]) == excluded, case
    assert doc["strategy"] in allowed
    assert doc["strategy"] not in doc["excluded"]
    assert all(isinstance(x, str) and x for x in doc["explanation"])


def test_endpoint_returns_the_contracted_shape(client: TestClient) -> None:
    res = client.post("/v1/strategy/recommend", json={**BASE, "change": {"src_churn": 600}})
    doc = res.json()
    assert {"strategy", "parameters", "p_failure", "explanation", "excluded"} <= set(doc)
    assert doc["p_failure"] == pytest.approx(0.35)
    assert doc["strategy"] in STRATEGIES
    assert {"steps", "analysis_interval_s", "bake_time_s", "auto_promote"} <= set(
        doc["parameters"])


def test_endpoint_is_a_pure_what_if(client: TestClient) -> None:
    first = client.post("/v1/strategy/recommend", json=BASE).json()
    second = client.post("/v1/strategy/recommend", json=BASE).json()
    assert first == second


@pytest.mark.parametrize(("body", "field"), [
    ({"risk_tolerance": 1.5}, "risk_tolerance"),
    ({"app_type": "mainframe"}, "app_type"),
    ({"resources": {"spare_capacity": -1}}, "spare_capacity"),
    ({"app": None}, "app"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_input_is_a_422_naming_the_field(client: TestClient, body: dict[str, Any],
                                             field: str) -> None:
    res = client.post("/v1/strategy/recommend", json={**BASE, **body})
    assert res.status_code == 422
    assert any(field in map(str, err["loc"]) for err in res.json()["detail"])


def test_missing_required_field_is_named(client: TestClient) -> None:
    res = client.post("/v1/strategy/recommend", json={"app": "x", "version": "1"})
    assert res.status_code == 422
    assert ["body", "deployment_id"] in [e["loc"] for e in res.json()["detail"]]
