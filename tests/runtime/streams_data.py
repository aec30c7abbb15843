"""Deterministic deploy-event streams for the worker tests."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from schemas import DeploymentFinished, DeploymentRequested
from tests.runtime.fakes import T0

APPS = ("web", "api", "billing", "search", "auth")


def lifecycle(n: int, tag: str) -> list[tuple[str, BaseModel]]:
    """``n`` requested+finished pairs across apps, as (key, event), in event-time order."""
    out: list[tuple[str, BaseModel]] = []
    for i in range(n):
        app = APPS[i % len(APPS)]
        dep = f"{tag}-{i}"
        at = T0 + timedelta(minutes=i)
        out.append(
            (
                app,
                DeploymentRequested(
                    id=f"{dep}-req",
                    occurred_at=at,
                    deployment_id=dep,
                    app=app,
                    version=f"1.{i}",
                ),
            )
        )
        out.append(
            (
                app,
                DeploymentFinished(
                    id=f"{dep}-fin",
                    occurred_at=at + timedelta(seconds=30),
                    deployment_id=dep,
                    app=app,
                    outcome="failed" if i % 4 == 0 else "succeeded",
                ),
            )
        )
    return out
