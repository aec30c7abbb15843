"""What outcomes and plans cost: the utility the strategy recommender minimises.

The learned posteriors say how likely each outcome is; this says how much each
outcome hurts, per strategy and app, and what the plan itself costs (time to
full rollout, worth more for apps that deploy often; a second full copy for
blue/green and shadow; downtime for recreate of user-facing apps). These are
an organisation's preferences, not something learned: override them per
installation by passing another ``CostModel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import DeploymentRequested


@dataclass(frozen=True)
class CostModel:
    """What outcomes and plans cost, in units of one full failure of a tolerant web app.

    ``failed``/``rolled_back`` are fractions of the app's severity by strategy:
    its blast radius (blue/green switches back at once, recreate has to come back
    up; a canary's rollback touched one small step, a shadow's touched no user).
    """

    severity: dict[str, float] = field(
        default_factory=lambda: {
            "web": 1.0,
            "api": 1.0,
            "monolith": 1.2,
            "stateful": 1.5,
            "worker": 0.6,
            "batch": 0.4,
        }
    )
    failed: dict[str, float] = field(
        default_factory=lambda: {
            "rolling": 1.0,
            "blue_green": 0.6,
            "canary": 1.0,
            "shadow": 1.0,
            "recreate": 1.3,
        }
    )
    rolled_back: dict[str, float] = field(
        default_factory=lambda: {
            "rolling": 0.4,
            "blue_green": 0.2,
            "canary": 0.08,
            "shadow": 0.02,
            "recreate": 0.8,
        }
    )
    minute_value: float = 0.003
    double_capacity: frozenset[str] = frozenset({"blue_green", "shadow"})
    downtime: dict[str, float] = field(
        default_factory=lambda: {"web": 0.3, "api": 0.3, "monolith": 0.3}
    )

    def app_severity(self, app_type: str, risk_tolerance: float) -> float:
        """Cost of a full failure: 1x for a fully tolerant app up to 10x for zero tolerance."""
        return self.severity.get(app_type, 1.0) * (1.0 + 9.0 * (1.0 - risk_tolerance))

    def plan_cost(self, strategy: str, req: DeploymentRequested, duration_s: int) -> float:
        """Time to full rollout, worth more the more often the app deploys."""
        per_minute = self.minute_value * (1.0 + req.deploy_frequency_per_day / 4.0)
        cost = duration_s / 60.0 * per_minute
        if strategy in self.double_capacity:
            cost *= 1.5
        if strategy == "recreate":
            cost += self.downtime.get(req.app_type, 0.05) * self.severity.get(req.app_type, 1.0)
        return cost
