"""The processors every way of running shares: live Faust agents and ``replay``.

``Pipeline.handle`` takes one parsed input (a deploy event, a metric batch or
an override) and returns the records it causes, each with the topic it goes to
and its key (the app, so an app's records stay ordered in one partition). It
reads no clock and does no I/O: the Faust worker publishes what it returns,
replay writes it as JSON lines.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from schemas import (
    AuditRecord,
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    DeploymentStep,
    KpiWindow,
    MetricBatch,
    ModelMetrics,
    Override,
    Prediction,
    RollbackCommand,
    StrategyDecision,
    Verdict,
)
from schemas import topics as t

DeployLifecycle = DeploymentRequested | DeploymentStarted | DeploymentStep | DeploymentFinished


class Predictor(Protocol):
    """Success model (models/prediction): predicts at request, learns at outcome, once."""

    def predict(self, req: DeploymentRequested) -> Prediction: ...

    def learn(self, fin: DeploymentFinished) -> ModelMetrics | None: ...


class Strategist(Protocol):
    """Strategy policy (models/strategy): constraints, then a learned choice."""

    def recommend(self, req: DeploymentRequested, prediction: Prediction) -> StrategyDecision: ...

    def observe(self, event: DeployLifecycle) -> None: ...


class Guard(Protocol):
    """KPI windows and verdicts (models/guard): metrics in, windows/verdicts/commands out."""

    def on_deploy_event(self, event: DeployLifecycle) -> list[BaseModel]: ...

    def on_metrics(self, batch: MetricBatch) -> list[BaseModel]: ...

    def on_override(self, override: Override) -> list[BaseModel]: ...


TOPIC_OF: dict[type[BaseModel], str] = {
    Prediction: t.PREDICTIONS,
    StrategyDecision: t.DECISIONS,
    KpiWindow: t.KPI,
    Verdict: t.VERDICTS,
    RollbackCommand: t.ROLLBACKS,
    AuditRecord: t.AUDIT,
    ModelMetrics: t.MODEL_METRICS,
}


@dataclass(frozen=True)
class Output:
    """A record to publish: topic, key, value."""

    topic: str
    key: str
    record: BaseModel


def _app_of(record: BaseModel) -> str:
    return str(getattr(record, "app", "") or getattr(record, "subject", "") or "")


class Pipeline:
    """Predict → recommend → guard, for one worker's share of apps."""

    def __init__(self, predictor: Predictor, strategist: Strategist, guard: Guard) -> None:
        self.predictor = predictor
        self.strategist = strategist
        self.guard = guard

    def handle(self, msg: BaseModel) -> list[Output]:
        """Process one input; return its outputs in the order they were decided."""
        out: list[BaseModel] = []
        if isinstance(msg, DeploymentRequested):
            prediction = self.predictor.predict(msg)
            out.append(prediction)
            out.append(self.strategist.recommend(msg, prediction))
            out.extend(self.guard.on_deploy_event(msg))
        elif isinstance(msg, DeploymentFinished):
            metrics = self.predictor.learn(msg)
            if metrics is not None:
                out.append(metrics)
            self.strategist.observe(msg)
            out.extend(self.guard.on_deploy_event(msg))
        elif isinstance(msg, (DeploymentStarted, DeploymentStep)):
            self.strategist.observe(msg)
            out.extend(self.guard.on_deploy_event(msg))
        elif isinstance(msg, MetricBatch):
            out.extend(self.guard.on_metrics(msg))
        elif isinstance(msg, Override):
            out.extend(self.guard.on_override(msg))
        else:
            raise TypeError(f"pipeline cannot handle {type(msg).__name__}")
        return list(self._route(out))

    @staticmethod
    def _route(records: Iterable[BaseModel]) -> Iterable[Output]:
        for record in records:
            topic = TOPIC_OF.get(type(record))
            if topic is None:
                raise TypeError(f"no topic for {type(record).__name__}")
            yield Output(topic, _app_of(record), record)

    def snapshot(self) -> bytes:
        """All model state, for a checkpoint stored together with the offsets it covers."""
        return pickle.dumps((self.predictor, self.strategist, self.guard), protocol=5)

    @classmethod
    def restore(cls, blob: bytes) -> Pipeline:
        predictor, strategist, guard = pickle.loads(blob)  # noqa: S301 - our own checkpoint
        return cls(predictor, strategist, guard)
