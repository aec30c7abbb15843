"""Map each schema record onto one row of its history table (pure, no I/O).

Typed columns are what Grafana and the API filter and aggregate on; ``payload``
keeps the whole record as JSON so the API's timeline returns exactly what was
published, and new optional schema fields need no migration to be kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from schemas import (
    ActionResult,
    AuditRecord,
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    DeploymentStep,
    KpiWindow,
    MetricBatch,
    ModelMetrics,
    Override,
    Prediction,
    RollbackCommand,
    StrategyDecision,
    Verdict,
)

Row = dict[str, Any]


def _base(r: Any) -> Row:
    return {"id": r.id, "occurred_at": r.occurred_at, "payload": r.model_dump_json()}


def _deploy_event(r: Any) -> Row:
    f = r.__dict__  # the four lifecycle models have different fields; no getattr misses
    return {
        **_base(r),
        "type": r.type,
        "deployment_id": r.deployment_id,
        "app": r.app,
        "environment": f.get("environment") or "",
        "version": f.get("version") or "",
        "previous_version": f.get("previous_version") or "",
        "strategy": f.get("strategy") or "",
        "outcome": f.get("outcome") or "",
        "reason": f.get("reason") or f.get("message") or "",
    }


def _prediction(r: Prediction) -> Row:
    return {
        **_base(r),
        "deployment_id": r.deployment_id,
        "app": r.app,
        "environment": r.environment,
        "request_id": r.request_id,
        "p_failure": r.p_failure,
        "alarm": r.alarm,
        "threshold": r.threshold,
        "model_version": r.model_version,
    }


def _decision(r: StrategyDecision) -> Row:
    return {
        **_base(r),
        "deployment_id": r.deployment_id,
        "app": r.app,
        "environment": r.environment,
        "request_id": r.request_id,
        "strategy": r.strategy,
        "p_failure": r.p_failure,
        "policy_version": r.policy_version,
    }


def _kpi(r: KpiWindow) -> Row:
    return {
        **_base(r),
        "deployment_id": r.deployment_id,
        "app": r.app,
        "track": r.track,
        "kpi": r.kpi,
        "window_start": r.window_start,
        "window_end": r.window_end,
        "value": r.value,
        "baseline": r.baseline,
        "threshold": r.threshold,
        "samples": r.samples,
        "status": r.status,
        "anomaly_score": r.anomaly_score,
    }


def _verdict(r: Verdict) -> Row:
    return {
        **_base(r),
        "deployment_id": r.deployment_id,
        "app": r.app,
        "state": r.state,
        "previous_state": r.previous_state or "",
        "reason": r.reason,
        "held": int(r.held),
    }


def _rollback(r: RollbackCommand) -> Row:
    return {
        **_base(r),
        "deployment_id": r.deployment_id,
        "app": r.app,
        "environment": r.environment,
        "strategy": r.strategy,
        "from_version": r.from_version,
        "to_version": r.to_version or "",
        "reason": r.reason,
        "forced": int(r.forced),
        "requested_by": r.requested_by,
    }


def _action(r: ActionResult) -> Row:
    return {
        **_base(r),
        "command_id": r.command_id,
        "deployment_id": r.deployment_id,
        "app": r.app,
        "backend": r.backend,
        "status": r.status,
        "detail": r.detail,
        "attempts": r.attempts,
    }


def _override(r: Override) -> Row:
    return {
        **_base(r),
        "deployment_id": r.deployment_id,
        "app": r.app,
        "action": r.action,
        "reason": r.reason,
        "actor": r.actor,
    }


def audit_deployment_id(r: AuditRecord) -> str:
    """The deployment an audit record is about: ``details.deployment_id``, else the
    subject with an optional ``deployment:`` / ``deployment/`` prefix removed.

    >>> from datetime import datetime
    >>> t = datetime(2026, 1, 1)
    >>> audit_deployment_id(AuditRecord(occurred_at=t, actor="a", action="hold",
    ...                                 subject="deployment/d-1"))
    'd-1'
    >>> audit_deployment_id(AuditRecord(occurred_at=t, actor="a", action="x", subject="s",
    ...                                 details={"deployment_id": "d-2"}))
    'd-2'
    """
    explicit = r.details.get("deployment_id")
    if isinstance(explicit, str) and explicit:
        return explicit
    for prefix in ("deployment:", "deployment/", "deployments/"):
        if r.subject.startswith(prefix):
            return r.subject[len(prefix) :]
    return r.subject


def _audit(r: AuditRecord) -> Row:
    return {
        **_base(r),
        "actor": r.actor,
        "action": r.action,
        "subject": r.subject,
        "deployment_id": audit_deployment_id(r),
        "reason": r.reason,
    }


def _model_metrics(r: ModelMetrics) -> Row:
    return {
        **_base(r),
        "model": r.model,
        "model_version": r.model_version,
        "n": r.n,
        "roc_auc": r.roc_auc,
        "log_loss": r.log_loss,
        "brier": r.brier,
        "f1": r.f1,
        "threshold": r.threshold,
        "drift_detected": int(r.drift_detected),
    }


def metric_rows(batch: MetricBatch) -> Iterable[Row]:
    """One row per sample; the (batch id, series index, timestamp) triple is its identity."""
    for index, s in enumerate(batch.series):
        for ts_ms, value in zip(s.timestamps_ms, s.values, strict=True):
            yield {
                "batch_id": batch.id,
                "series_index": index,
                "app": batch.app,
                "name": s.name,
                "labels": dict(s.labels),
                "deployment_id": s.deployment_id or "",
                "version": s.version or "",
                "track": s.track,
                "ts": datetime.fromtimestamp(ts_ms / 1000, tz=UTC),
                "value": value,
            }


#: model class -> (table, row function). MetricBatch is handled by ``metric_rows``.
ROUTES: dict[type[BaseModel], tuple[str, Callable[[Any], Row]]] = {
    DeploymentRequested: ("deploy_events", _deploy_event),
    DeploymentStarted: ("deploy_events", _deploy_event),
    DeploymentStep: ("deploy_events", _deploy_event),
    DeploymentFinished: ("deploy_events", _deploy_event),
    Prediction: ("predictions", _prediction),
    StrategyDecision: ("decisions", _decision),
    KpiWindow: ("kpi_windows", _kpi),
    Verdict: ("verdicts", _verdict),
    RollbackCommand: ("rollbacks", _rollback),
    ActionResult: ("actions", _action),
    Override: ("overrides", _override),
    AuditRecord: ("audit", _audit),
    ModelMetrics: ("model_metrics", _model_metrics),
}


def group_rows(records: Iterable[BaseModel]) -> dict[str, list[Row]]:
    """Group records into per-table row lists, dropping in-batch duplicate ids.

    Raises ``TypeError`` for a record type the history does not store.
    """
    tables: dict[str, list[Row]] = {}
    seen: set[tuple[str, str]] = set()
    for record in records:
        if isinstance(record, MetricBatch):
            if ("metric_samples", record.id) not in seen:
                seen.add(("metric_samples", record.id))
                tables.setdefault("metric_samples", []).extend(metric_rows(record))
            continue
        route = ROUTES.get(type(record))
        if route is None:
            raise TypeError(f"history: no table for {type(record).__name__}")
        table, to_row = route
        row = to_row(record)
        if (table, row["id"]) in seen:
            continue
        seen.add((table, row["id"]))
        tables.setdefault(table, []).append(row)
    return tables


def dedup_token(table: str, rows: list[dict[str, Any]]) -> str:
    """Insert deduplication token of one table batch: a retried identical batch is dropped."""
    h = hashlib.sha256(table.encode())
    for row in rows:
        h.update(b"\0" + str(row.get("id") or row.get("batch_id")).encode())
    if table == "metric_samples":
        h.update(str(len(rows)).encode())
    return h.hexdigest()
