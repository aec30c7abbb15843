"""Kafka topic names and which schema each carries (one place, used by every process)."""

from __future__ import annotations

DEPLOY_EVENTS = "smartdeploy.deploy.events"
METRICS = "smartdeploy.metrics"
PREDICTIONS = "smartdeploy.predictions"
DECISIONS = "smartdeploy.decisions"
KPI = "smartdeploy.kpi"
VERDICTS = "smartdeploy.verdicts"
ROLLBACKS = "smartdeploy.rollbacks"
ACTIONS = "smartdeploy.actions"
OVERRIDES = "smartdeploy.overrides"
AUDIT = "smartdeploy.audit"
MODEL_METRICS = "smartdeploy.model.metrics"
DLQ = "smartdeploy.dlq"

ALL_TOPICS: tuple[str, ...] = (
    DEPLOY_EVENTS,
    METRICS,
    PREDICTIONS,
    DECISIONS,
    KPI,
    VERDICTS,
    ROLLBACKS,
    ACTIONS,
    OVERRIDES,
    AUDIT,
    MODEL_METRICS,
    DLQ,
)
