"""What-if success prediction and the success model's live quality.

``POST /v1/predict`` scores a ``DeploymentRequested`` with the worker's current
model via :meth:`models.prediction.SuccessPredictor.what_if`, which stores
nothing: asking never changes what the model has learned or holds pending.
``occurred_at`` may be omitted (the time of day is a feature; it then defaults to
the time of the call). Invalid bodies get FastAPI's 422 whose ``detail[].loc``
names the offending field. ``GET /v1/models/success`` returns the prequential
metrics, the alarm threshold and the drift state. Authentication is the mounting
application's job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from models.prediction import SuccessPredictor
from schemas import DeploymentRequested, FeatureContribution
from schemas.base import UtcDateTime


def _now() -> datetime:
    return datetime.now(UTC)


class PredictBody(DeploymentRequested):
    """A ``DeploymentRequested`` whose event time may be left out of an ad-hoc question."""

    occurred_at: UtcDateTime = Field(default_factory=_now)


class PredictResponse(BaseModel):
    """Failure probability, the alarm at the model's own threshold, and why."""

    deployment_id: str
    app: str
    p_failure: float
    alarm: int
    threshold: float
    explanation: list[FeatureContribution]
    model_version: str


def build_predict_router(get_predictor: Callable[[], SuccessPredictor]) -> APIRouter:
    """Router with the what-if and model-quality endpoints; the predictor is injected."""
    router = APIRouter(prefix="/v1", tags=["prediction"])

    @router.post("/predict", response_model=PredictResponse)
    def predict(body: PredictBody) -> PredictResponse:
        req = DeploymentRequested.model_validate(body.model_dump())
        pred = get_predictor().what_if(req)
        return PredictResponse(
            deployment_id=pred.deployment_id,
            app=pred.app,
            p_failure=pred.p_failure,
            alarm=pred.alarm,
            threshold=pred.threshold,
            explanation=pred.explanation,
            model_version=pred.model_version,
        )

    @router.get("/models/success")
    def success_model() -> dict[str, Any]:
        return get_predictor().metrics()

    return router
