"""Schemas: JSON Schema files are fresh, bad events name the field, CDEvents map."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import (
    ALL_MODELS,
    DeploymentFinished,
    DeploymentRequested,
    MetricBatch,
    parse_any,
    parse_deploy_event,
)
from schemas.export import JSON_DIR, render_all

REQ = {
    "type": "deployment.requested",
    "occurred_at": "2026-11-22T10:00:00Z",
    "deployment_id": "checkout-42",
    "app": "checkout",
    "version": "1.4.2",
    "previous_version": "1.4.1",
    "app_type": "api",
    "risk_tolerance": 0.2,
    "change": {"files_changed": 3, "lines_added": 40, "lines_deleted": 2, "commits": 2},
    "tests": {"run": 120, "failed": 0, "skipped": 3, "coverage": 0.81},
    "compliance": ["pci"],
}


def test_committed_json_schemas_match_the_models() -> None:
    rendered = render_all()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in JSON_DIR.glob("*.json")}
    assert on_disk == rendered, "schemas/json is stale: run `make schemas`"


def test_every_model_carries_version_id_and_event_time() -> None:
    for name, model in ALL_MODELS.items():
        fields = model.model_fields
        for required in ("schema_version", "id", "occurred_at", "type"):
            assert required in fields, f"{name} lacks {required}"


def test_valid_request_parses_with_defaults() -> None:
    ev = parse_deploy_event(json.dumps(REQ).encode())
    assert isinstance(ev, DeploymentRequested)
    assert ev.tests.coverage == 0.81
    assert ev.resources.spare_capacity == 0.0
    assert ev.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"risk_tolerance": 1.5}, "risk_tolerance"),
        ({"app_type": "mainframe"}, "app_type"),
        ({"tests": {"run": -1}}, "tests.run"),
        ({"deployment_id": ""}, "deployment_id"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_event_error_names_the_field(patch: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_deploy_event({**REQ, **patch})
    locs = [".".join(str(p) for p in e["loc"][1:]) for e in err.value.errors()]
    assert field in locs


def test_missing_required_field_is_named() -> None:
    doc = dict(REQ)
    del doc["version"]
    with pytest.raises(ValidationError, match="version"):
        parse_deploy_event(doc)


def test_naive_and_offset_timestamps_become_utc() -> None:
    a = parse_deploy_event({**REQ, "occurred_at": "2026-11-22T10:00:00"})
    b = parse_deploy_event({**REQ, "occurred_at": "2026-11-22T12:00:00+02:00"})
    assert a.occurred_at == b.occurred_at == datetime(2026, 11, 22, 10, tzinfo=UTC)


def test_cdevent_upgraded_maps_to_requested() -> None:
    doc = {
        "context": {
            "version": "0.3.0",
            "id": "271069a8-fc18-44f1-b38f-9d70a1695819",
            "source": "/ci/pipeline",
            "type": "dev.cdevents.service.upgraded.0.3.0",
            "timestamp": "2026-11-22T10:00:00Z",
        },
        "subject": {
            "id": "checkout",
            "source": "/ci/pipeline",
            "content": {
                "environment": {"id": "prod"},
                "artifactId": "pkg:oci/checkout@sha256:0b31?repository_url=r/checkout&tag=1.4.2",
            },
        },
    }
    ev = parse_deploy_event(doc)
    assert isinstance(ev, DeploymentRequested)
    assert (ev.app, ev.environment, ev.version) == ("checkout", "prod", "1.4.2")
    assert ev.id == "271069a8-fc18-44f1-b38f-9d70a1695819"


def test_cdevent_rolledback_maps_to_finished_rolled_back() -> None:
    doc = {
        "context": {
            "id": "e9",
            "type": "dev.cdevents.service.rolledback.0.3.0",
            "timestamp": "2026-11-22T10:05:00Z",
            "source": "argo",
        },
        "subject": {"id": "checkout", "content": {"environment": {"id": "prod"}}},
        "customData": {"deployment_id": "checkout-42"},
    }
    ev = parse_deploy_event(doc)
    assert isinstance(ev, DeploymentFinished)
    assert ev.outcome == "rolled_back" and ev.deployment_id == "checkout-42"


def test_cdevent_without_subject_id_is_rejected_naming_it() -> None:
    doc = {
        "context": {
            "id": "e1",
            "type": "dev.cdevents.service.deployed.0.3.0",
            "timestamp": "2026-11-22T10:00:00Z",
        },
        "subject": {"content": {}},
    }
    with pytest.raises(ValueError, match="subject.id"):
        parse_deploy_event(doc)


def test_metric_batch_rejects_ragged_series() -> None:
    with pytest.raises(ValidationError, match="same length"):
        MetricBatch.model_validate(
            {
                "occurred_at": "2026-11-22T10:00:00Z",
                "app": "a",
                "series": [{"name": "up", "timestamps_ms": [1, 2], "values": [1.0]}],
            }
        )


@given(
    risk=st.floats(min_value=0, max_value=1),
    files=st.integers(min_value=0, max_value=10**6),
    labels=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=4),
)
def test_round_trip_through_json_is_lossless(
    risk: float, files: int, labels: dict[str, str]
) -> None:
    ev = DeploymentRequested.model_validate(
        {**REQ, "risk_tolerance": risk, "labels": labels, "change": {"files_changed": files}}
    )
    again = parse_any(json.loads(ev.model_dump_json()))
    assert again == ev
