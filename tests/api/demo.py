"""Realistic record sequences for one deployment, built from the real schemas.

Used by the API tests, the browser test and the API benchmark to fill stores
and live feeds with what the pipeline would produce.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from pydantic import BaseModel

from schemas import (
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    DeploymentStep,
    Evidence,
    FeatureContribution,
    KpiWindow,
    Prediction,
    StrategyDecision,
    Verdict,
    derived_id,
)


def requested(dep: str, app: str, at: datetime, env: str = "production") -> list[BaseModel]:
    """Request, prediction with explanation, strategy decision."""
    req = DeploymentRequested(
        id=derived_id(dep, "req"),
        occurred_at=at,
        deployment_id=dep,
        app=app,
        environment=env,
        version="v2",
        previous_version="v1",
    )
    pred = Prediction(
        id=derived_id(dep, "pred"),
        occurred_at=at,
        deployment_id=dep,
        app=app,
        environment=env,
        request_id=req.id,
        p_failure=0.31,
        alarm=0,
        threshold=0.5,
        explanation=[
            FeatureContribution(feature="change.src_churn", value=420.0, weight=0.8),
            FeatureContribution(feature="tests.failed", value=0.0, weight=-0.3),
        ],
        model_version="7",
    )
    dec = StrategyDecision(
        id=derived_id(dep, "dec"),
        occurred_at=at,
        deployment_id=dep,
        app=app,
        environment=env,
        request_id=req.id,
        strategy="canary",
        p_failure=0.31,
        explanation=["p_failure 0.31 above 0.2: canary"],
        excluded={"shadow": "no mirroring"},
    )
    return [req, pred, dec]


def progress(
    dep: str,
    app: str,
    at: datetime,
    step: int,
    weight: float,
    error_rate: float,
    breach: bool = False,
) -> list[BaseModel]:
    """One canary step with its error-rate window and the verdict after it."""
    out: list[BaseModel] = []
    if step == 1:
        out.append(
            DeploymentStarted(
                id=derived_id(dep, "start"),
                occurred_at=at,
                deployment_id=dep,
                app=app,
                version="v2",
                strategy="canary",
            )
        )
    out.append(
        DeploymentStep(
            id=derived_id(dep, "step", step),
            occurred_at=at,
            deployment_id=dep,
            app=app,
            step=step,
            weight=weight,
        )
    )
    end = at + timedelta(seconds=10)
    status = "breach" if breach else "ok"
    out.append(
        KpiWindow(
            id=derived_id(dep, "kpi", step),
            occurred_at=end,
            deployment_id=dep,
            app=app,
            track="canary",
            kpi="error_rate",
            window_start=at,
            window_end=end,
            value=error_rate,
            baseline=0.01,
            threshold=0.05,
            samples=60,
            status=status,
        )
    )
    ev = Evidence(
        kpi="error_rate",
        track="canary",
        value=error_rate,
        threshold=0.05,
        baseline=0.01,
        window_start=at,
        window_end=end,
        rule="max 0.05 for 30s",
    )
    out.append(
        Verdict(
            id=derived_id(dep, "verdict", step),
            occurred_at=end,
            deployment_id=dep,
            app=app,
            state="degraded" if breach else "healthy",
            evidence=[ev],
            reason=f"error_rate {error_rate:.3f} vs max 0.05",
        )
    )
    return out


def full_deployment(dep: str, app: str, at: datetime, steps: int = 5) -> Iterator[BaseModel]:
    """A whole successful canary: request, steps with KPI windows and verdicts, finish."""
    yield from requested(dep, app, at)
    for i in range(1, steps + 1):
        yield from progress(
            dep, app, at + timedelta(seconds=20 * i), i, 20.0 * i, 0.01 + 0.002 * (i % 3)
        )
    yield DeploymentFinished(
        id=derived_id(dep, "fin"),
        occurred_at=at + timedelta(seconds=20 * steps + 15),
        deployment_id=dep,
        app=app,
        outcome="succeeded",
    )
