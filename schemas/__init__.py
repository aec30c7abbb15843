"""Every event, command and record of smartdeploy as one versioned pydantic v2 model.

``parse_deploy_event`` is the single entry point for bytes arriving on
``deploy.events`` (native JSON or CDEvents); it raises ``pydantic.ValidationError``
(or ``ValueError`` for CDEvents) naming the offending field.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from schemas.base import SCHEMA_VERSION, Envelope, derived_id, new_id
from schemas.cdevents import from_cdevent, is_cdevent
from schemas.commands import ActionResult, AuditRecord, Override, RollbackCommand
from schemas.deadletter import DeadLetter
from schemas.decisions import (
    CanaryStep,
    Evidence,
    FeatureContribution,
    KpiWindow,
    ModelMetrics,
    Prediction,
    StrategyDecision,
    StrategyParameters,
    Verdict,
)
from schemas.deploy import (
    DEPLOY_EVENT_ADAPTER,
    STRATEGIES,
    Capabilities,
    Change,
    DeployEvent,
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    DeploymentStep,
    Findings,
    Resources,
    Target,
    Tests,
)
from schemas.metrics import MetricBatch, Series

#: Every top-level message model, by its JSON Schema file name.
ALL_MODELS: dict[str, type[BaseModel]] = {
    "DeploymentRequested": DeploymentRequested,
    "DeploymentStarted": DeploymentStarted,
    "DeploymentStep": DeploymentStep,
    "DeploymentFinished": DeploymentFinished,
    "MetricBatch": MetricBatch,
    "Prediction": Prediction,
    "StrategyDecision": StrategyDecision,
    "KpiWindow": KpiWindow,
    "Verdict": Verdict,
    "RollbackCommand": RollbackCommand,
    "ActionResult": ActionResult,
    "Override": Override,
    "AuditRecord": AuditRecord,
    "ModelMetrics": ModelMetrics,
    "DeadLetter": DeadLetter,
}

#: The ``type`` discriminator of each model, for replay files and history routing.
MODEL_BY_TYPE: dict[str, type[BaseModel]] = {
    m.model_fields["type"].default: m for m in ALL_MODELS.values()
}


def parse_deploy_event(raw: bytes | str | dict[str, Any]) -> DeployEvent:
    """Parse one message of ``deploy.events`` (native or CDEvents)."""
    doc = json.loads(raw) if isinstance(raw, (bytes, str)) else raw
    if not isinstance(doc, dict):
        raise ValueError("message: expected a JSON object")
    if is_cdevent(doc):
        return from_cdevent(doc)
    return DEPLOY_EVENT_ADAPTER.validate_python(doc)


def parse_any(doc: dict[str, Any]) -> BaseModel:
    """Parse any message by its ``type`` field (replay files, history)."""
    kind = doc.get("type")
    model = MODEL_BY_TYPE.get(kind) if isinstance(kind, str) else None
    if model is None:
        if is_cdevent(doc):
            return from_cdevent(doc)
        raise ValueError(f"type: unknown message type {kind!r}")
    return model.model_validate(doc)


__all__ = [
    "ALL_MODELS",
    "MODEL_BY_TYPE",
    "SCHEMA_VERSION",
    "ActionResult",
    "AuditRecord",
    "CanaryStep",
    "Capabilities",
    "DeadLetter",
    "Change",
    "DeployEvent",
    "DeploymentFinished",
    "DeploymentRequested",
    "DeploymentStarted",
    "DeploymentStep",
    "Envelope",
    "Evidence",
    "FeatureContribution",
    "Findings",
    "KpiWindow",
    "MetricBatch",
    "ModelMetrics",
    "Override",
    "Prediction",
    "Resources",
    "RollbackCommand",
    "STRATEGIES",
    "Series",
    "StrategyDecision",
    "StrategyParameters",
    "Target",
    "Tests",
    "Verdict",
    "derived_id",
    "from_cdevent",
    "new_id",
    "parse_any",
    "parse_deploy_event",
]
