"""Deployment lifecycle events published by CI/CD systems on ``deploy.events``.

The ``type`` field discriminates the union so one topic carries the whole
lifecycle of a deployment in order (the topic is keyed by app).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas.base import Envelope

AppType = Literal["web", "api", "worker", "stateful", "batch", "monolith"]
StrategyName = Literal["rolling", "blue_green", "canary", "shadow", "recreate"]
Outcome = Literal["succeeded", "failed", "rolled_back", "aborted"]
STRATEGIES: tuple[str, ...] = ("rolling", "blue_green", "canary", "shadow", "recreate")


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Change(_Part):
    """Size of the change being deployed (known before the deployment starts)."""

    files_changed: int = Field(default=0, ge=0)
    lines_added: int = Field(default=0, ge=0)
    lines_deleted: int = Field(default=0, ge=0)
    src_churn: int = Field(default=0, ge=0)
    test_churn: int = Field(default=0, ge=0)
    commits: int = Field(default=1, ge=0)


class Tests(_Part):
    """Test results of the CI run that produced the artifact."""

    run: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    skipped: int = Field(default=0, ge=0)
    coverage: float | None = Field(default=None, ge=0.0, le=1.0)


class Findings(_Part):
    """Security / static-analysis findings by severity."""

    critical: int = Field(default=0, ge=0)
    high: int = Field(default=0, ge=0)
    medium: int = Field(default=0, ge=0)
    low: int = Field(default=0, ge=0)


class Resources(_Part):
    """Spare capacity as a fraction of the app's current footprint (1.0 = a full copy fits)."""

    spare_capacity: float = Field(default=0.0, ge=0.0)
    replicas: int = Field(default=1, ge=0)


class Capabilities(_Part):
    traffic_mirroring: bool = False
    traffic_splitting: bool = False


class Target(_Part):
    """The workload a rollback acts on. Defaults: a Deployment named after the app."""

    kind: Literal["deployment", "argo_rollout"] = "deployment"
    namespace: str = "default"
    name: str | None = None
    canary_name: str | None = None
    service_name: str | None = None


class DeploymentRequested(Envelope):
    """A CI system asks to deploy ``version`` of ``app`` to ``environment``."""

    type: Literal["deployment.requested"] = "deployment.requested"
    deployment_id: str = Field(min_length=1, max_length=200)
    app: str = Field(min_length=1, max_length=200)
    environment: str = Field(default="production", min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=200)
    previous_version: str | None = None
    app_type: AppType = "web"
    risk_tolerance: float = Field(default=0.5, ge=0.0, le=1.0)
    change: Change = Field(default_factory=Change)
    tests: Tests = Field(default_factory=Tests)
    findings: Findings = Field(default_factory=Findings)
    resources: Resources = Field(default_factory=Resources)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    compliance: list[str] = Field(default_factory=list)
    deploy_frequency_per_day: float = Field(default=1.0, ge=0.0)
    labels: dict[str, str] = Field(default_factory=dict)
    target: Target = Field(default_factory=Target)


class DeploymentStarted(Envelope):
    """The CD system started rolling out with a strategy and its parameters."""

    type: Literal["deployment.started"] = "deployment.started"
    deployment_id: str = Field(min_length=1)
    app: str = Field(min_length=1)
    environment: str = "production"
    version: str = ""
    strategy: StrategyName = "rolling"
    parameters: dict[str, Any] = Field(default_factory=dict)


class DeploymentStep(Envelope):
    """Progress of a rollout: a canary weight change, a promotion, a pause."""

    type: Literal["deployment.step"] = "deployment.step"
    deployment_id: str = Field(min_length=1)
    app: str = Field(min_length=1)
    step: int = Field(default=0, ge=0)
    phase: Literal["progressing", "paused", "promoted", "analysis"] = "progressing"
    weight: float | None = Field(default=None, ge=0.0, le=100.0)
    message: str = ""


class DeploymentFinished(Envelope):
    """Outcome of a deployment: the delayed label for the success model."""

    type: Literal["deployment.finished"] = "deployment.finished"
    deployment_id: str = Field(min_length=1)
    app: str = Field(min_length=1)
    environment: str = "production"
    outcome: Outcome
    reason: str = ""


DeployEvent = Annotated[
    DeploymentRequested | DeploymentStarted | DeploymentStep | DeploymentFinished,
    Field(discriminator="type"),
]
DEPLOY_EVENT_ADAPTER: TypeAdapter[DeployEvent] = TypeAdapter(DeployEvent)
