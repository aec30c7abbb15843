"""What smartdeploy decides: predictions, strategy choices, KPI windows, verdicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.base import Envelope, UtcDateTime
from schemas.deploy import StrategyName
from schemas.metrics import Track


class FeatureContribution(BaseModel):
    """One feature's signed contribution to the failure log-odds."""

    model_config = ConfigDict(extra="forbid")

    feature: str
    value: float
    weight: float


class Prediction(Envelope):
    """Probability that a requested deployment fails, with why."""

    type: Literal["prediction"] = "prediction"
    deployment_id: str
    app: str
    environment: str = "production"
    request_id: str = Field(description="id of the DeploymentRequested this answers")
    p_failure: float = Field(ge=0.0, le=1.0)
    alarm: int = Field(ge=0, le=1)
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    explanation: list[FeatureContribution] = Field(default_factory=list)
    model_version: str = "0"


class CanaryStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weight: float = Field(ge=0.0, le=100.0)
    duration_s: int = Field(ge=0)


class StrategyParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[CanaryStep] = Field(default_factory=list)
    analysis_interval_s: int = Field(default=30, ge=1)
    bake_time_s: int = Field(default=300, ge=0)
    auto_promote: bool = True
    max_surge: str | None = None
    max_unavailable: str | None = None


class StrategyDecision(Envelope):
    """The strategy chosen for a deployment, its parameters, and what was excluded and why."""

    type: Literal["strategy.decision"] = "strategy.decision"
    deployment_id: str
    app: str
    environment: str = "production"
    request_id: str
    strategy: StrategyName
    parameters: StrategyParameters = Field(default_factory=StrategyParameters)
    p_failure: float = Field(ge=0.0, le=1.0)
    explanation: list[str] = Field(default_factory=list)
    excluded: dict[str, str] = Field(default_factory=dict)
    policy_version: str = "0"


class KpiWindow(Envelope):
    """One evaluated window of one KPI on one track of one deployment."""

    type: Literal["kpi.window"] = "kpi.window"
    deployment_id: str
    app: str
    track: Track
    kpi: str
    window_start: UtcDateTime
    window_end: UtcDateTime
    value: float | None
    baseline: float | None = None
    threshold: float | None = None
    samples: int = Field(default=0, ge=0)
    status: Literal["ok", "breach", "inconclusive"]
    anomaly_score: float | None = Field(default=None, ge=0.0, le=1.0)
    detail: str = ""


class Evidence(BaseModel):
    """Why a verdict is what it is: the KPI, what it measured, against what."""

    model_config = ConfigDict(extra="forbid")

    kpi: str
    track: Track = "canary"
    value: float | None = None
    threshold: float | None = None
    baseline: float | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    rule: str = ""
    detail: str = ""


VerdictState = Literal["healthy", "degraded", "rollback", "inconclusive", "error"]


class Verdict(Envelope):
    """State of a deployment's health state machine after a window, with counters and evidence."""

    type: Literal["verdict"] = "verdict"
    deployment_id: str
    app: str
    state: VerdictState
    previous_state: VerdictState | None = None
    counters: dict[str, int] = Field(default_factory=dict)
    evidence: list[Evidence] = Field(default_factory=list)
    reason: str = ""
    held: bool = False
    details: dict[str, Any] = Field(default_factory=dict)


class ModelMetrics(Envelope):
    """Prequential (test-then-train) quality of an online model, emitted as it learns."""

    type: Literal["model.metrics"] = "model.metrics"
    model: str = "success"
    model_version: str = "0"
    n: int = Field(default=0, ge=0)
    roc_auc: float | None = None
    log_loss: float | None = None
    brier: float | None = None
    f1: float | None = None
    threshold: float | None = None
    drift_detected: bool = False
    details: dict[str, Any] = Field(default_factory=dict)
