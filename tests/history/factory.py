"""Seed records for history tests: a small, realistic set of deployments.

``lifecycle`` builds every record a deployment produces, in event time, with ids
derived from the deployment id so a second call yields the same records
(re-delivery).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from schemas import (
    ActionResult,
    AuditRecord,
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    DeploymentStep,
    Evidence,
    KpiWindow,
    ModelMetrics,
    Override,
    Prediction,
    RollbackCommand,
    StrategyDecision,
    Verdict,
    derived_id,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def lifecycle(
    dep: str,
    *,
    app: str = "web",
    env: str = "production",
    start: datetime = T0,
    outcome: str | None = "succeeded",
    strategy: str = "canary",
    p_failure: float = 0.2,
    rollback: bool = False,
) -> list[BaseModel]:
    """Every record of one deployment; ``rollback`` adds a breach, command and action."""

    def at(seconds: float) -> datetime:
        return start + timedelta(seconds=seconds)

    def rid(kind: str) -> str:
        return derived_id(dep, kind)

    req = DeploymentRequested(
        id=rid("req"),
        occurred_at=at(0),
        deployment_id=dep,
        app=app,
        environment=env,
        version="2.0",
        previous_version="1.9",
    )
    out: list[BaseModel] = [
        req,
        Prediction(
            id=rid("pred"),
            occurred_at=at(0),
            deployment_id=dep,
            app=app,
            environment=env,
            request_id=req.id,
            p_failure=p_failure,
            alarm=int(p_failure >= 0.5),
        ),
        StrategyDecision(
            id=rid("dec"),
            occurred_at=at(0),
            deployment_id=dep,
            app=app,
            environment=env,
            request_id=req.id,
            strategy=strategy,
            p_failure=p_failure,  # type: ignore[arg-type]
        ),
        DeploymentStarted(
            id=rid("start"),
            occurred_at=at(10),
            deployment_id=dep,
            app=app,
            environment=env,
            version="2.0",
            strategy=strategy,  # type: ignore[arg-type]
        ),
        DeploymentStep(
            id=rid("step"),
            occurred_at=at(20),
            deployment_id=dep,
            app=app,
            step=1,
            weight=10,
        ),
    ]
    for i in range(3):
        bad = rollback and i == 2
        out.append(
            KpiWindow(
                id=rid(f"kpi{i}"),
                occurred_at=at(60 * (i + 1)),
                deployment_id=dep,
                app=app,
                track="canary",
                kpi="error_rate",
                window_start=at(60 * i),
                window_end=at(60 * (i + 1)),
                value=0.2 if bad else 0.01,
                baseline=0.01,
                threshold=0.05,
                samples=120,
                status="breach" if bad else "ok",
            )
        )
    out.append(
        Verdict(
            id=rid("verdict"),
            occurred_at=at(180),
            deployment_id=dep,
            app=app,
            state="rollback" if rollback else "healthy",
            previous_state="healthy",
            evidence=[Evidence(kpi="error_rate", value=0.2, threshold=0.05)] if rollback else [],
        )
    )
    if rollback:
        cmd = RollbackCommand(
            id=rid("rb"),
            occurred_at=at(181),
            deployment_id=dep,
            app=app,
            environment=env,
            strategy=strategy,
            from_version="2.0",
            to_version="1.9",
            reason="error_rate breach",
        )
        out += [
            cmd,
            ActionResult(
                id=rid("act"),
                occurred_at=at(185),
                command_id=cmd.id,
                deployment_id=dep,
                app=app,
                backend="dry_run",
                status="dry_run",
            ),
        ]
    if outcome is not None:
        out.append(
            DeploymentFinished(
                id=rid("fin"),
                occurred_at=at(240),
                deployment_id=dep,
                app=app,
                environment=env,
                outcome=outcome,
                reason="",  # type: ignore[arg-type]
            )
        )
    return out


def override_and_audit(dep: str, at: datetime, actor: str = "alice") -> list[BaseModel]:
    o = Override(
        id=derived_id(dep, "ovr"),
        occurred_at=at,
        deployment_id=dep,
        app="web",
        action="hold",
        reason="investigating",
        actor=actor,
    )
    a = AuditRecord(
        id=derived_id(dep, "audit"),
        occurred_at=at,
        actor=actor,
        action="override.hold",
        subject=f"deployment:{dep}",
        reason="investigating",
    )
    return [o, a]


def model_metrics(n: int, at: datetime, auc: float) -> ModelMetrics:
    return ModelMetrics(
        id=derived_id("mm", n),
        occurred_at=at,
        n=n,
        roc_auc=auc,
        log_loss=0.5,
        brier=0.2,
    )


def seed_deployments(store: Any) -> list[BaseModel]:
    """12 deployments of 3 apps, 2 environments and every outcome, plus model metrics."""
    records = []
    for i in range(12):
        records += lifecycle(
            f"d{i:02d}",
            app=("web", "api", "jobs")[i % 3],
            env="staging" if i % 4 == 0 else "production",
            start=T0 + timedelta(minutes=10 * i),
            outcome=(None, "succeeded", "failed", "rolled_back")[i % 4],
            rollback=i % 4 == 3,
            p_failure=i / 20,
        )
    records += override_and_audit("d03", T0 + timedelta(minutes=31))
    records += [model_metrics(n, T0 + timedelta(hours=n), 0.6 + n / 100) for n in range(1, 4)]
    store.insert(records)
    return records
