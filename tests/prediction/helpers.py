"""Small builders of deployment events for the prediction tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import Change, DeploymentFinished, DeploymentRequested

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def request(
    n: int, app: str = "shop", env: str = "main", churn: int = 10, minutes: float | None = None
) -> DeploymentRequested:
    """The ``n``-th request of a stream, ten minutes apart unless ``minutes`` is given."""
    at = T0 + timedelta(minutes=10 * n if minutes is None else minutes)
    return DeploymentRequested(
        id=f"req-{app}-{n}",
        occurred_at=at,
        deployment_id=f"{app}-{n}",
        app=app,
        environment=env,
        version=f"v{n}",
        change=Change(src_churn=churn, files_changed=2),
        labels={"trigger": "push"},
    )


def finished(req: DeploymentRequested, failed: bool, after_s: float = 60.0) -> DeploymentFinished:
    """The outcome of ``req``, ``after_s`` seconds after it was requested."""
    return DeploymentFinished(
        id=f"fin-{req.deployment_id}",
        occurred_at=req.occurred_at + timedelta(seconds=after_s),
        deployment_id=req.deployment_id,
        app=req.app,
        environment=req.environment,
        outcome="failed" if failed else "succeeded",
    )


def fails(n: int, app: str) -> bool:
    """A deterministic outcome pattern: app ``bad`` fails 80 %, others 10 %."""
    rate = 8 if app == "bad" else 1
    return (n * 7 + len(app)) % 10 < rate
