"""Online model quality (prequential metrics), as last reported by the learner."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict

from api.auth import Principal, require_role
from api.deps import AUTH_ERRORS, ApiDeps, call_store, errors, get_deps

router = APIRouter(prefix="/v1", tags=["models"])


class ModelMetricsView(BaseModel):
    """``schemas.ModelMetrics`` as stored (roc_auc, log_loss, brier, f1, drift…)."""

    model_config = ConfigDict(extra="allow")

    model: str
    n: int | None = None
    roc_auc: float | None = None
    log_loss: float | None = None
    brier: float | None = None
    f1: float | None = None
    drift_detected: bool | None = None


@router.get("/models/{model}/metrics", response_model=ModelMetricsView,
            responses={**AUTH_ERRORS, **errors(404, 503)},
            summary="Latest prequential metrics of an online model")
def model_metrics(
    model: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\w.\-]+$")],
    _: Annotated[Principal, Depends(require_role("viewer"))],
    deps: Annotated[ApiDeps, Depends(get_deps)],
) -> Any:
    row = call_store("history store", lambda: deps.reader.latest_model_metrics(model))
    if row is None:
        raise HTTPException(status_code=404, detail=f"no metrics recorded yet for model {model!r}")
    return {"model": model, **row}
