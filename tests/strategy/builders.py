"""Builders shared by the strategy tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import DeploymentRequested, Prediction

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def make_request(**overrides: Any) -> DeploymentRequested:
    """A permissive request (every strategy feasible) with ``overrides`` applied."""
    doc: dict[str, Any] = {
        "occurred_at": T0,
        "deployment_id": "dep-1",
        "app": "shop",
        "version": "2.0.0",
        "app_type": "web",
        "risk_tolerance": 0.5,
        "resources": {"spare_capacity": 1.5, "replicas": 10},
        "capabilities": {"traffic_mirroring": True, "traffic_splitting": True},
    }
    doc.update(overrides)
    return DeploymentRequested.model_validate(doc)


def make_prediction(req: DeploymentRequested, p_failure: float) -> Prediction:
    return Prediction(
        occurred_at=req.occurred_at,
        deployment_id=req.deployment_id,
        app=req.app,
        request_id=req.id,
        p_failure=p_failure,
        alarm=int(p_failure >= 0.5),
    )
