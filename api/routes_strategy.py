"""``POST /v1/strategy/recommend``: the strategy smartdeploy would pick, and why.

A thin shell over :meth:`models.strategy.StrategyRecommender.what_if` (pure: an
API call never changes what the worker has learned). The body is a
``DeploymentRequested``; ``occurred_at`` may be left out (it does not influence
the choice) and then defaults to the time of the call. Invalid bodies get
FastAPI's 422, whose ``detail[].loc`` names the offending field.
Authentication is the mounting application's job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from models.strategy import StrategyRecommender
from schemas import DeploymentRequested
from schemas.base import UtcDateTime


def _now() -> datetime:
    return datetime.now(UTC)


class RecommendBody(DeploymentRequested):
    """A ``DeploymentRequested`` whose event time may be omitted in an ad-hoc question."""

    occurred_at: UtcDateTime = Field(default_factory=_now)


def build_strategy_router(
    get_strategist: Callable[[], StrategyRecommender],
    get_p_failure: Callable[[DeploymentRequested], float],
) -> APIRouter:
    """Router with the recommendation endpoint; dependencies are injected as callables."""
    router = APIRouter(prefix="/v1/strategy", tags=["strategy"])

    @router.post("/recommend")
    def recommend(body: RecommendBody) -> dict[str, Any]:
        req = DeploymentRequested.model_validate(body.model_dump())
        p_failure = float(get_p_failure(req))
        decision = get_strategist().what_if(req, p_failure)
        return {
            "deployment_id": decision.deployment_id,
            "strategy": decision.strategy,
            "parameters": decision.parameters.model_dump(mode="json"),
            "p_failure": decision.p_failure,
            "explanation": decision.explanation,
            "excluded": decision.excluded,
        }

    return router
