"""``POST /v1/strategy/recommend`` through a real FastAPI app and TestClient."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.routes_strategy import build_strategy_router
from models.strategy import StrategyRecommender
from models.strategy_constraints import parse_rules
from schemas import STRATEGIES, DeploymentRequested

RULES = parse_rules(
    [
        {
            "name": "eu-no-shadow",
            "match": {"labels": {"region": "eu"}},
            "exclude": ["shadow"],
            "reason": "mirrored traffic leaves the region",
        }
    ]
)


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
    (
        "regulated stateful app with no room",
        {"app_type": "stateful", "compliance": ["pci-dss"], "resources": {"replicas": 3}},
        {"recreate", "canary", "shadow", "blue_green"},
        {"rolling"},
    ),
    (
        "tolerant batch job on a bare cluster",
        {"app_type": "batch", "risk_tolerance": 0.9, "resources": {"replicas": 1}},
        {"canary", "shadow", "blue_green"},
        {"rolling", "recreate"},
    ),
    (
        "mesh-enabled api with headroom",
        {
            "app_type": "api",
            "risk_tolerance": 0.2,
            "resources": {"spare_capacity": 2.0, "replicas": 2},
            "capabilities": {"traffic_mirroring": True, "traffic_splitting": True},
        },
        {"recreate"},
        {"canary", "shadow", "blue_green", "rolling"},
    ),
    (
        "eu policy rule on top of built-ins",
        {
            "labels": {"region": "eu"},
            "resources": {"spare_capacity": 1.0, "replicas": 8},
            "capabilities": {"traffic_mirroring": True, "traffic_splitting": False},
        },
        {"shadow"},
        {"canary", "blue_green", "rolling", "recreate"},
    ),
]


@pytest.mark.parametrize(("case", "body", "excluded", "allowed"), CASES, ids=[c[0] for c in CASES])
def test_endpoint_applies_constraints_it_was_never_shown(
    client: TestClient, case: str, body: dict[str, Any], excluded: set[str], allowed: set[str]
) -> None:
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
    assert {"steps", "analysis_interval_s", "bake_time_s", "auto_promote"} <= set(doc["parameters"])


def test_endpoint_is_a_pure_what_if(client: TestClient) -> None:
    first = client.post("/v1/strategy/recommend", json=BASE).json()
    second = client.post("/v1/strategy/recommend", json=BASE).json()
    assert first == second


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"risk_tolerance": 1.5}, "risk_tolerance"),
        ({"app_type": "mainframe"}, "app_type"),
        ({"resources": {"spare_capacity": -1}}, "spare_capacity"),
        ({"app": None}, "app"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    res = client.post("/v1/strategy/recommend", json={**BASE, **body})
    assert res.status_code == 422
    assert any(field in map(str, err["loc"]) for err in res.json()["detail"])


def test_missing_required_field_is_named(client: TestClient) -> None:
    res = client.post("/v1/strategy/recommend", json={"app": "x", "version": "1"})
    assert res.status_code == 422
    assert ["body", "deployment_id"] in [e["loc"] for e in res.json()["detail"]]


def _issue_spec(body: dict[str, Any]) -> set[str]:
    """The issue's constraints, written out independently of models/strategy_constraints."""
    out: set[str] = set()
    tags = [t.lower() for t in body["compliance"]]
    if any(t.split("-")[0].split(":")[0] in {"pci", "sox", "hipaa"} for t in tags):
        out.add("recreate")
    if body["risk_tolerance"] < 0.3:
        out.add("recreate")
    if body["resources"]["spare_capacity"] < 1.0:
        out.add("blue_green")
    if not body["capabilities"]["traffic_mirroring"]:
        out.add("shadow")
    if body["app_type"] == "stateful":
        out |= {"canary", "shadow"}
    if not body["capabilities"]["traffic_splitting"] and body["resources"]["replicas"] < 5:
        out.add("canary")
    if body.get("labels", {}).get("region") == "eu":
        out.add("shadow")
    return out


bodies = st.fixed_dictionaries({
    "deployment_id": st.text("abcdef0123", min_size=1, max_size=8),
    "app": st.sampled_from(["orders", "auth", "feed"]),
    "version": st.just("1"),
    "app_type": st.sampled_from(["web", "api", "worker", "stateful", "batch", "monolith"]),
    "risk_tolerance": st.floats(0, 1),
    "resources": st.fixed_dictionaries({"spare_capacity": st.floats(0, 3),
                                        "replicas": st.integers(0, 12)}),
    "capabilities": st.fixed_dictionaries({"traffic_mirroring": st.booleans(),
                                           "traffic_splitting": st.booleans()}),
    "compliance": st.lists(st.sampled_from(["PCI", "sox", "hipaa:phi", "pci-dss", "internal"]),
                           max_size=2),
    "labels": st.dictionaries(st.just("region"), st.sampled_from(["eu", "us"]), max_size=1),
    "change": st.fixed_dictionaries({"src_churn": st.integers(0, 3000)}),
})  # fmt: skip


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_endpoint_agrees_with_the_issue_on_random_requests(
    client: TestClient, body: dict[str, Any]
) -> None:
    doc = client.post("/v1/strategy/recommend", json=body).json()
    assert set(doc["excluded"]) == _issue_spec(body)
    assert doc["strategy"] not in doc["excluded"]
