"""Small models satisfying the Protocols of ``streams.pipeline``, with learn counters.

They are module-level (picklable) so checkpoints of a ``Pipeline`` built from them
round-trip, also into a worker subprocess.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from schemas import (
    DeploymentFinished,
    DeploymentRequested,
    MetricBatch,
    ModelMetrics,
    Override,
    Prediction,
    StrategyDecision,
    derived_id,
)
from streams.pipeline import DeployLifecycle, Pipeline

#: deployment ids whose events make the fake guard raise (a processor bug)
EXPLODING = "explode"


class CountingPredictor:
    """Predicts a fixed-ish probability and counts every label it learns."""

    def __init__(self) -> None:
        self.learned: Counter[str] = Counter()
        self.predicted: Counter[str] = Counter()
        self.failures = 0

    def predict(self, req: DeploymentRequested) -> Prediction:
        self.predicted[req.deployment_id] += 1
        p = self.failures / max(sum(self.learned.values()), 1)
        return Prediction(
            id=derived_id(req.id, "prediction"),
            occurred_at=req.occurred_at,
            deployment_id=req.deployment_id,
            app=req.app,
            request_id=req.id,
            p_failure=p,
            alarm=int(p > 0.5),
        )

    def learn(self, fin: DeploymentFinished) -> ModelMetrics | None:
        self.learned[fin.deployment_id] += 1
        self.failures += fin.outcome != "succeeded"
        return ModelMetrics(
            id=derived_id(fin.id, "metrics"),
            occurred_at=fin.occurred_at,
            n=sum(self.learned.values()),
        )


class FixedStrategist:
    def __init__(self) -> None:
        self.observed = 0

    def recommend(self, req: DeploymentRequested, prediction: Prediction) -> StrategyDecision:
        return StrategyDecision(
            id=derived_id(req.id, "decision"),
            occurred_at=req.occurred_at,
            deployment_id=req.deployment_id,
            app=req.app,
            request_id=req.id,
            strategy="canary",
            p_failure=prediction.p_failure,
        )

    def observe(self, event: DeployLifecycle) -> None:
        self.observed += 1


class QuietGuard:
    """Emits nothing; raises for the ``EXPLODING`` deployment to test the DLQ path."""

    def __init__(self) -> None:
        self.events = 0

    def on_deploy_event(self, event: DeployLifecycle) -> list[BaseModel]:
        if event.deployment_id == EXPLODING:
            raise RuntimeError("guard exploded")
        self.events += 1
        return []

    def on_metrics(self, batch: MetricBatch) -> list[BaseModel]:
        return []

    def on_override(self, override: Override) -> list[BaseModel]:
        return []


def fake_pipeline() -> Pipeline:
    return Pipeline(CountingPredictor(), FixedStrategist(), QuietGuard())


def digest(pipeline: Pipeline) -> dict[str, Any]:
    """A deterministic summary of the learned state, to compare runs."""
    pred = pipeline.predictor
    assert isinstance(pred, CountingPredictor)
    learned = dict(sorted(pred.learned.items()))
    return {
        "labels": sum(learned.values()),
        "failures": pred.failures,
        "learned_sha": hashlib.sha256(json.dumps(learned).encode()).hexdigest(),
        "max_learns_per_deployment": max(learned.values(), default=0),
    }


T0 = datetime(2026, 1, 1, tzinfo=UTC)


class RecordingGuard(QuietGuard):
    """Remembers the event time of every input it saw, in the order it saw them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[datetime, str]] = []

    def on_deploy_event(self, event: DeployLifecycle) -> list[BaseModel]:
        self.seen.append((event.occurred_at, event.type))
        return super().on_deploy_event(event)

    def on_metrics(self, batch: MetricBatch) -> list[BaseModel]:
        self.seen.append((batch.occurred_at, batch.type))
        return []


def recording_pipeline() -> Pipeline:
    return Pipeline(CountingPredictor(), FixedStrategist(), RecordingGuard())
