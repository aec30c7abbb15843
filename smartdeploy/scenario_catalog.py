"""What the demo scenario deploys: five services, their rollouts and timings.

The catalogue behind ``smartdeploy.scenario`` (which steps it through time):
one clean canary, a latency regression, a 5xx spike, clean rolling and
blue/green rollouts, and the ``DeploymentRequested`` each of them sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas import DeploymentRequested, derived_id
from smartdeploy.traffic import Service


@dataclass(frozen=True)
class Rollout:
    """One deployment of the scenario; ``fault`` shapes the new version's metrics."""

    service: Service
    at_min: float
    version: str
    previous: str
    fault: str = "none"  # none | latency | errors
    strategy: str = "canary"
    files_changed: int = 5


SERVICES = {
    s.app: s
    for s in (
        Service("checkout", "api", 120, 0.08, 0.002, ("pci",)),
        Service("search", "web", 300, 0.05, 0.001, spare_capacity=1.5),
        Service("payments", "api", 80, 0.12, 0.001, ("pci", "sox")),
        Service("catalog", "worker", 60, 0.2, 0.003),
        Service("frontend", "web", 400, 0.04, 0.001, spare_capacity=2.0, mirroring=True),
    )
}

ROLLOUTS = (
    Rollout(SERVICES["catalog"], 2, "2.3.0", "2.2.9", "none", "canary", 4),
    Rollout(SERVICES["checkout"], 12, "1.8.0", "1.7.3", "latency", "canary", 38),
    Rollout(SERVICES["payments"], 26, "3.1.0", "3.0.4", "errors", "canary", 61),
    Rollout(SERVICES["search"], 38, "5.0.1", "5.0.0", "none", "rolling", 3),
    Rollout(SERVICES["frontend"], 48, "9.4.0", "9.3.2", "none", "blue_green", 12),
)
#: Minutes after the start at which the new version starts to misbehave.
FAULT_AFTER_MIN = 1.5
#: How long a healthy rollout takes until promotion, and the bake afterwards.
PROMOTE_AFTER_MIN = 6.0
BAKE_MIN = 3.0
#: A CD system reacting to a rollback command finishes the deployment this much later.
ROLLBACK_REPORT_AFTER_MIN = 4.0


def deployment_id(r: Rollout) -> str:
    return f"{r.service.app}-{r.version}"


def request_for(r: Rollout, at: datetime) -> DeploymentRequested:
    s = r.service
    return DeploymentRequested.model_validate(
        {
            "id": derived_id("demo", deployment_id(r), "requested"),
            "occurred_at": at,
            "deployment_id": deployment_id(r),
            "app": s.app,
            "environment": "production",
            "version": r.version,
            "previous_version": r.previous,
            "app_type": s.app_type,
            "risk_tolerance": 0.2 if s.compliance else 0.6,
            "change": {
                "files_changed": r.files_changed,
                "lines_added": r.files_changed * 23,
                "lines_deleted": r.files_changed * 7,
                "src_churn": r.files_changed * 30,
                "test_churn": r.files_changed * 4,
                "commits": max(1, r.files_changed // 6),
            },
            "tests": {"run": 420, "failed": 0, "skipped": 6, "coverage": 0.78},
            "findings": {"medium": 1 if r.fault != "none" else 0},
            "resources": {"spare_capacity": s.spare_capacity, "replicas": 6},
            "capabilities": {"traffic_mirroring": s.mirroring, "traffic_splitting": True},
            "compliance": list(s.compliance),
            "deploy_frequency_per_day": 4.0,
            "labels": {"team": "demo", "branch": "main"},
            "target": {
                "kind": "deployment",
                "namespace": "shop",
                "name": s.app,
                "canary_name": f"{s.app}-canary",
            },
        }
    )
