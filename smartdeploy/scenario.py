"""A realistic, seeded hour of deployments and metrics, as a time-ordered event list.

The demo publishes it to a running stack (compressed ~60x), tests and
``smartdeploy replay`` use it as a recorded stream. Five services; one clean
canary, one latency regression, one 5xx spike, and clean rolling/blue-green
rollouts; a backfill of past deployments warms the success model first.

Metrics follow the conventions of real exporters: cumulative counters
``http_requests_total{code}`` and a cumulative latency histogram
``http_request_duration_seconds_bucket{le}``, scraped every 15 s, labelled with
``app``, ``version``, ``track`` and ``deployment_id`` for the new version.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from pydantic import BaseModel

from schemas import (
    DeploymentFinished,
    DeploymentStarted,
    DeploymentStep,
    MetricBatch,
    Series,
    derived_id,
)
from smartdeploy.scenario_catalog import (
    BAKE_MIN,
    FAULT_AFTER_MIN,
    PROMOTE_AFTER_MIN,
    ROLLBACK_REPORT_AFTER_MIN,
    ROLLOUTS,
    SERVICES,
    Rollout,
    deployment_id,
    request_for,
)
from smartdeploy.traffic import SCRAPE_S, Counters, scrape, series_of

__all__ = ["ROLLOUTS", "Scenario", "backfill", "deployment_id", "recorded_stream"]


def backfill(start: datetime, seed: int = 7, per_app: int = 40) -> list[BaseModel]:
    """Past deployments of every service (requested, started, finished), to warm the models."""
    rng = random.Random(seed)
    events: list[BaseModel] = []
    for s in SERVICES.values():
        base_fail = 0.25 if s.app in ("checkout", "payments") else 0.08
        for i in range(per_app):
            at = start - timedelta(days=per_app - i, minutes=rng.randint(0, 600))
            big = rng.random() < 0.3
            files = rng.randint(20, 90) if big else rng.randint(1, 12)
            fails = rng.random() < (base_fail * (2.5 if big else 0.6))
            r = Rollout(
                s,
                0,
                f"0.{i}.0",
                f"0.{i - 1}.0" if i else "0.0.0",
                "errors" if fails else "none",
                "rolling",
                files,
            )
            req = request_for(r, at)
            req = req.model_copy(
                update={
                    "id": derived_id("backfill", s.app, i),
                    "deployment_id": f"{s.app}-hist-{i}",
                }
            )
            events.append(req)
            # History mixes strategies; a canary usually catches a bad version (rolled
            # back after a small exposure), a rolling update usually does not.
            strategy = "canary" if i % 2 else "rolling"
            events.append(
                DeploymentStarted(
                    id=derived_id("backfill", s.app, i, "started"),
                    occurred_at=at + timedelta(minutes=1),
                    deployment_id=req.deployment_id,
                    app=s.app,
                    version=r.version,
                    strategy=strategy,  # type: ignore[arg-type]
                )
            )
            caught = fails and rng.random() < (0.8 if strategy == "canary" else 0.15)
            outcome = "rolled_back" if caught else ("failed" if fails else "succeeded")
            events.append(
                DeploymentFinished(
                    id=derived_id("backfill", s.app, i, "finished"),
                    occurred_at=at + timedelta(minutes=rng.randint(5, 25)),
                    deployment_id=req.deployment_id,
                    app=s.app,
                    environment="production",
                    outcome=outcome,  # type: ignore[arg-type]
                    reason="post-deploy errors" if fails else "",
                )
            )
    events.sort(key=lambda e: e.occurred_at)  # type: ignore[attr-defined]
    return events


class Scenario:
    """Steps simulated time forward in scrape intervals and yields what happened.

    ``rolled_back(deployment_id, at)`` tells it that the CD system executed a
    rollback: the new version stops serving and the deployment is reported
    ``rolled_back`` shortly after. Without it (a recorded stream), faulty
    rollouts are reported rolled back ``ROLLBACK_REPORT_AFTER_MIN`` after the
    fault starts, as a human would have done.
    """

    def __init__(self, start: datetime, seed: int = 7, reactive: bool = False) -> None:
        self.start = start
        self.rng = random.Random(seed)
        self.reactive = reactive
        self.minutes = 60.0
        self.elapsed_s = 0
        self._stable = {app: Counters() for app in SERVICES}
        self._canary: dict[str, Counters] = {}
        self._versions = {r.service.app: r.previous for r in ROLLOUTS}
        self._done: dict[str, str] = {}
        self._rollback_at: dict[str, float] = {}
        self._emitted: set[str] = set()
        #: Strategy the CD system actually uses per deployment (the demo follows decisions).
        self.strategy_for: dict[str, str] = {}

    @property
    def finished(self) -> bool:
        return self.elapsed_s >= self.minutes * 60

    def rolled_back(self, dep_id: str, at_min: float) -> None:
        self._rollback_at.setdefault(dep_id, at_min)

    def outcomes(self) -> dict[str, str]:
        return dict(self._done)

    def _once(self, key: str) -> bool:
        if key in self._emitted:
            return False
        self._emitted.add(key)
        return True

    def step(self) -> list[BaseModel]:
        """Advance one scrape interval; return lifecycle events then metric batches."""
        now_min = self.elapsed_s / 60.0
        at = self.start + timedelta(seconds=self.elapsed_s)
        out: list[BaseModel] = []
        for r in ROLLOUTS:
            out.extend(self._lifecycle(r, now_min, at))
        ts_ms = int(at.timestamp() * 1000)
        for app, s in SERVICES.items():
            series: list[Series] = []
            live = [r for r in ROLLOUTS if r.service.app == app and self._serving(r, now_min)]
            share = 0.9 if live else 1.0
            scrape(self.rng, self._stable[app], s, s.p50_s, s.error_rate, share)
            series += series_of(s, self._versions[app], "stable", None, self._stable[app], ts_ms)
            for r in live:
                c = self._canary.setdefault(deployment_id(r), Counters())
                bad = now_min >= r.at_min + FAULT_AFTER_MIN
                p50 = s.p50_s * (7.0 if r.fault == "latency" and bad else 1.0)
                err = 0.12 if r.fault == "errors" and bad else s.error_rate
                scrape(self.rng, c, s, p50, err, 0.1)
                series += series_of(s, r.version, "canary", deployment_id(r), c, ts_ms)
            out.append(
                MetricBatch(
                    id=derived_id("demo-metrics", app, self.elapsed_s),
                    occurred_at=at,
                    app=app,
                    source="demo",
                    series=series,
                )
            )
        self.elapsed_s += SCRAPE_S
        return out

    def _serving(self, r: Rollout, now_min: float) -> bool:
        dep = deployment_id(r)
        rb = self._rollback_at.get(dep)
        return r.at_min <= now_min and dep not in self._done and (rb is None or now_min < rb)

    def _lifecycle(self, r: Rollout, now_min: float, at: datetime) -> list[BaseModel]:
        dep = deployment_id(r)
        s = r.service
        out: list[BaseModel] = []
        if now_min >= r.at_min and self._once(dep + ":req"):
            out.append(request_for(r, at))
        if now_min >= r.at_min + 0.25 and self._once(dep + ":start"):
            out.append(
                DeploymentStarted(
                    id=derived_id("demo", dep, "started"),
                    occurred_at=at,
                    deployment_id=dep,
                    app=s.app,
                    version=r.version,
                    strategy=self.strategy_for.get(dep, r.strategy),  # type: ignore[arg-type]
                    parameters={"steps": [10, 25, 50, 100]},
                )
            )
        if dep in self._done:
            return out
        if r.fault != "none" and not self.reactive:
            self.rolled_back(dep, r.at_min + FAULT_AFTER_MIN + ROLLBACK_REPORT_AFTER_MIN)
        rb = self._rollback_at.get(dep)
        if rb is not None and now_min >= rb:
            out.append(self._finish(r, at, "rolled_back", "rolled back after KPI breach"))
            return out
        if r.fault == "none":
            if now_min >= r.at_min + PROMOTE_AFTER_MIN and self._once(dep + ":promote"):
                out.append(
                    DeploymentStep(
                        id=derived_id("demo", dep, "promoted"),
                        occurred_at=at,
                        deployment_id=dep,
                        app=s.app,
                        step=4,
                        phase="promoted",
                        weight=100.0,
                        message="promoted",
                    )
                )
                self._versions[s.app] = r.version
            if now_min >= r.at_min + PROMOTE_AFTER_MIN + BAKE_MIN:
                out.append(self._finish(r, at, "succeeded", ""))
        elif now_min >= r.at_min + 20 and self._once(dep + ":failed"):
            out.append(self._finish(r, at, "failed", "regression was not caught"))
        return out

    def _finish(self, r: Rollout, at: datetime, outcome: str, reason: str) -> DeploymentFinished:
        dep = deployment_id(r)
        self._done[dep] = outcome
        return DeploymentFinished.model_validate(
            {
                "id": derived_id("demo", dep, "finished"),
                "occurred_at": at,
                "deployment_id": dep,
                "app": r.service.app,
                "outcome": outcome,
                "reason": reason,
            }
        )


def recorded_stream(start: datetime, seed: int = 7, minutes: float = 60.0) -> list[BaseModel]:
    """The whole scenario (backfill + the hour) as a recorded, time-ordered stream."""
    events = backfill(start, seed)
    sc = Scenario(start, seed, reactive=False)
    sc.minutes = minutes
    while not sc.finished:
        events.extend(sc.step())
    return events
