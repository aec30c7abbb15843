"""Realistic inputs for guard tests and benchmarks: lifecycle events and metric batches.

``Fleet`` simulates the pods of one app as Prometheus would scrape them: request
counters by status code, a latency histogram, CPU seconds and memory, with
cumulative counters per series, one scrape every ``scrape_s`` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from schemas import (
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    DeploymentStep,
    MetricBatch,
    Override,
    Series,
    derived_id,
)

T0_MS = 1_800_000_000_000  # a fixed event-time origin (2027-01-15)
LES = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class TrackLoad:
    """How one track behaves: request rate, 5xx share, median latency, CPU, memory."""

    rps: float = 50.0
    error_rate: float = 0.002
    latency_s: float = 0.08
    cpu: float = 0.3
    memory: float = 300e6
    pods: int = 2
    queue: float | None = None
    version: str | None = None


@dataclass
class Fleet:
    """Cumulative counters of every pod of every track, advanced scrape by scrape."""

    app: str = "web"
    deployment_id: str | None = "d1"
    scrape_s: float = 5.0
    seed: int = 0
    state: dict[tuple[str, ...], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def _bump(self, key: tuple[str, ...], inc: float) -> float:
        self.state[key] = self.state.get(key, 0.0) + inc
        return self.state[key]

    def scrape(self, t_ms: int, loads: dict[str, TrackLoad], n: int = 1) -> MetricBatch:
        """``n`` consecutive scrapes starting at ``t_ms`` as one batch."""
        series: list[Series] = []
        for track, load in loads.items():
            for pod in range(load.pods):
                series.extend(self._pod(track, f"{track}-{pod}", load, t_ms, n))
        last = t_ms + int((n - 1) * self.scrape_s * 1000)
        return MetricBatch(
            id=derived_id(self.app, self.seed, t_ms, "batch"),
            occurred_at=at(last),
            app=self.app,
            series=series,
        )

    def _pod(self, track: str, pod: str, load: TrackLoad, t_ms: int, n: int) -> list[Series]:
        ts = [t_ms + int(i * self.scrape_s * 1000) for i in range(n)]
        per_pod = load.rps * self.scrape_s / load.pods
        reqs = self.rng.poisson(per_pod, n).astype(float)
        errs = self.rng.binomial(reqs.astype(int), min(load.error_rate, 1.0)).astype(float)
        common = {"deployment_id": self.deployment_id, "track": track, "version": load.version}
        lab = {"pod": pod}
        out = []
        for code, inc in (("200", reqs - errs), ("500", errs)):
            vals = [self._bump((pod, "req", code), float(x)) for x in inc]
            out.append(
                Series(
                    name="http_requests_total",
                    labels={**lab, "code": code},
                    timestamps_ms=ts,
                    values=vals,
                    **common,
                )
            )  # type: ignore[arg-type]
        lat = self.rng.lognormal(np.log(load.latency_s), 0.5, (n, int(max(per_pod, 1))))
        for le in LES:
            bound = float(le)
            inc = (lat <= bound).sum(axis=1).astype(float)
            vals = [self._bump((pod, "lat", le), float(x)) for x in inc]
            out.append(
                Series(
                    name="http_request_duration_seconds_bucket",
                    labels={**lab, "le": le},
                    timestamps_ms=ts,
                    values=vals,
                    **common,
                )
            )  # type: ignore[arg-type]
        cpu = [
            self._bump(
                (pod, "cpu"),
                max(0.0, load.cpu * self.scrape_s * (1 + 0.05 * self.rng.standard_normal())),
            )
            for _ in range(n)
        ]
        out.append(
            Series(
                name="process_cpu_seconds_total", labels=lab, timestamps_ms=ts, values=cpu, **common
            )
        )  # type: ignore[arg-type]
        mem = list(load.memory * (1 + 0.01 * self.rng.standard_normal(n)))
        out.append(
            Series(
                name="process_resident_memory_bytes",
                labels=lab,
                timestamps_ms=ts,
                values=mem,
                **common,
            )
        )  # type: ignore[arg-type]
        if load.queue is not None:
            q = list(load.queue * (1 + 0.05 * self.rng.standard_normal(n)))
            out.append(
                Series(
                    name="smartdeploy_queue_depth", labels=lab, timestamps_ms=ts, values=q, **common
                )
            )  # type: ignore[arg-type]
        return out


def lifecycle(
    dep: str = "d1",
    app: str = "web",
    strategy: str = "canary",
    t_ms: int = T0_MS,
    version: str = "v2",
    previous: str = "v1",
) -> tuple[DeploymentRequested, DeploymentStarted]:
    req = DeploymentRequested(
        id=derived_id(dep, "req"),
        occurred_at=at(t_ms - 1000),
        deployment_id=dep,
        app=app,
        version=version,
        previous_version=previous,
    )
    start = DeploymentStarted(
        id=derived_id(dep, "start"),
        occurred_at=at(t_ms),
        deployment_id=dep,
        app=app,
        version=version,
        strategy=strategy,
    )  # type: ignore[arg-type]
    return req, start


def canary_guard(dep: str = "d1", app: str = "web", defaults: dict[str, Any] | None = None
                 ) -> Any:
    """A guard on the shipped default policy (``defaults`` merged over it), watching
    canary ``dep`` of ``app``."""
    from models.guard import DeploymentGuard
    from models.policy import build_policies

    guard = DeploymentGuard(build_policies({"defaults": defaults} if defaults else None))
    for ev in lifecycle(dep=dep, app=app):
        guard.on_deploy_event(ev)
    return guard


def rolling_guard(
    dep: str, app: str, history: TrackLoad, seed: int, t_ms: int = T0_MS, history_s: int = 3600
) -> Any:
    """A guard on the shipped default policy that learned ``history_s`` of the app's
    healthy series (no deployment running) before rolling deploy ``dep`` starts at ``t_ms``."""
    from models.guard import DeploymentGuard
    from models.policy import load_policies

    guard = DeploymentGuard(load_policies(None))
    fleet = Fleet(app=app, deployment_id=None, seed=seed)
    n = int(history_s / fleet.scrape_s)
    drive(guard, fleet, {"stable": history}, t_ms - history_s * 1000, n, 2)
    for ev in lifecycle(dep=dep, app=app, strategy="rolling", t_ms=t_ms):
        guard.on_deploy_event(ev)
    return guard


def step(dep: str, app: str, t_ms: int, phase: str = "promoted") -> DeploymentStep:
    return DeploymentStep(
        id=derived_id(dep, "step", t_ms),
        occurred_at=at(t_ms),
        deployment_id=dep,
        app=app,
        phase=phase,
    )  # type: ignore[arg-type]


def finished(dep: str, app: str, t_ms: int, outcome: str = "succeeded") -> DeploymentFinished:
    return DeploymentFinished(
        id=derived_id(dep, "fin", t_ms),
        occurred_at=at(t_ms),
        deployment_id=dep,
        app=app,
        outcome=outcome,
    )  # type: ignore[arg-type]


def override(dep: str, action: str, t_ms: int, actor: str = "alice") -> Override:
    return Override(
        id=derived_id(dep, action, t_ms),
        occurred_at=at(t_ms),
        deployment_id=dep,
        app="web",
        action=action,
        reason="operator decision",  # type: ignore[arg-type]
        actor=actor,
    )


def drive(
    guard: Any, fleet: Fleet, loads: Any, start_ms: int, n: int, per_batch: int = 1
) -> list[object]:
    """Feed ``n`` scrapes (``loads(i)`` → track loads, or a fixed dict) to ``guard``."""
    out: list[object] = []
    step_ms = int(fleet.scrape_s * 1000)
    for i in range(0, n, per_batch):
        current = loads(i) if callable(loads) else loads
        batch = fleet.scrape(start_ms + i * step_ms, current, min(per_batch, n - i))
        out.extend(guard.on_metrics(batch))
    return out


def of_type(outputs: Sequence[object], name: str) -> list[Any]:
    return [o for o in outputs if type(o).__name__ == name]
