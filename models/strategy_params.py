"""Parameters of the chosen strategy, tighter as the deployment gets riskier.

One number, the *risk level* in [0, 1], combines the predicted failure
probability with the app's risk tolerance; every knob (canary step sizes and
durations, analysis interval, bake time, promotion, surge) is read from it, so
"riskier" always means smaller first exposure, longer observation, more frequent
analysis and, at the top, a human promotion instead of an automatic one.

Canary steps list the traffic weights held before promotion (promotion to 100 %
follows the last step plus the bake time). Without a traffic router the weights
are snapped to what the replica count can express (one pod = 100/replicas %).
"""

from __future__ import annotations

from schemas import CanaryStep, DeploymentRequested, StrategyParameters

HIGH_RISK = 0.5
MANUAL_PROMOTION_RISK = 0.75


def risk_level(p_failure: float, risk_tolerance: float) -> float:
    """Risk in [0, 1]: rises with p_failure, and with intolerance of failure.

    >>> risk_level(0.0, 1.0)
    0.0
    >>> risk_level(0.05, 0.5) < risk_level(0.05, 0.1) < risk_level(0.5, 0.1)
    True
    """
    p = min(max(p_failure, 0.0), 1.0)
    rt = min(max(risk_tolerance, 0.0), 1.0)
    return round(1.0 - (1.0 - p) * (0.5 + 0.5 * rt), 6)


def risk_band(risk: float) -> str:
    """``low`` / ``medium`` / ``high`` for explanations and parameter tiers."""
    if risk < 0.25:
        return "low"
    return "medium" if risk < HIGH_RISK else "high"


_CANARY_WEIGHTS = {
    "low": [20.0, 50.0],
    "medium": [10.0, 25.0, 50.0],
    "high": [5.0, 10.0, 25.0, 50.0, 75.0],
}
_STEP_S = {"low": 120, "medium": 300, "high": 600}
_ANALYSIS_S = {"low": 60, "medium": 30, "high": 15}
_BAKE_S = {"low": 120, "medium": 300, "high": 900}
_SHADOW_S = {"low": 600, "medium": 1200, "high": 1800}


def snap_weights(weights: list[float], replicas: int) -> list[float]:
    """Weights expressible with ``replicas`` pods (at least one pod, below 100 %).

    >>> snap_weights([5.0, 10.0, 25.0, 50.0], 5)
    [20.0, 40.0]
    >>> snap_weights([10.0, 50.0], 1)
    []
    """
    if replicas < 2:
        return []
    unit = 100.0 / replicas
    out: list[float] = []
    for w in weights:
        snapped = round(max(1, round(w / unit)) * unit, 2)
        if snapped < 100.0 and snapped not in out:
            out.append(snapped)
    return out


def parameters_for(
    strategy: str,
    req: DeploymentRequested,
    p_failure: float,
    *,
    stateful: bool = False,
) -> StrategyParameters:
    """The rollout parameters of ``strategy`` for this request at this risk."""
    risk = risk_level(p_failure, req.risk_tolerance)
    band = risk_band(risk)
    manual = risk >= MANUAL_PROMOTION_RISK
    params = StrategyParameters(
        analysis_interval_s=_ANALYSIS_S[band],
        bake_time_s=_BAKE_S[band],
        auto_promote=not manual,
    )
    if strategy == "canary":
        weights = _CANARY_WEIGHTS[band]
        if risk >= MANUAL_PROMOTION_RISK:
            weights = [1.0, *weights]
        if not req.capabilities.traffic_splitting:
            weights = snap_weights(weights, req.resources.replicas) or [50.0]
        params.steps = [CanaryStep(weight=w, duration_s=_STEP_S[band]) for w in weights]
    elif strategy == "rolling":
        if stateful:
            params.max_surge, params.max_unavailable = "0", "1"
        elif band == "low":
            params.max_surge, params.max_unavailable = "25%", "25%"
        elif band == "medium":
            params.max_surge, params.max_unavailable = "25%", "0"
        else:
            params.max_surge, params.max_unavailable = "1", "0"
    elif strategy == "blue_green":
        # A stateful cutover is confirmed by an operator: the old writer must stop first.
        params.auto_promote = not (manual or stateful)
    elif strategy == "shadow":
        params.bake_time_s = _SHADOW_S[band]
    return params


def plan_duration_s(strategy: str, params: StrategyParameters, replicas: int) -> int:
    """Rough time from start to full rollout, for the plan cost (slow plans cost more).

    >>> plan_duration_s("recreate", StrategyParameters(bake_time_s=60), 3)
    120
    """
    rollout = 60
    if strategy == "rolling":
        batch = 1 if params.max_surge in ("0", "1") else max(1, replicas // 4)
        rollout = 30 * max(1, -(-replicas // batch))
    elif strategy == "blue_green":
        rollout = 90
    steps = sum(s.duration_s for s in params.steps)
    return rollout + steps + params.bake_time_s
