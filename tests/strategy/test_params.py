"""Rollout parameters: tighter as risk rises, faster for frequent deployers, one writer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from models.strategy import StrategyRecommender
from models.strategy_params import parameters_for, plan_duration_s, risk_level
from schemas import StrategyParameters
from tests.strategy.builders import make_request

_SURGE_ORDER = {"25%": 2, "1": 1, "0": 0}


def _tightness(params: StrategyParameters) -> tuple[float, int, int, int, int]:
    first = params.steps[0].weight if params.steps else 100.0
    step_s = min((s.duration_s for s in params.steps), default=0)
    return (
        first,
        -step_s,
        params.analysis_interval_s,
        -params.bake_time_s,
        int(params.auto_promote),
    )


@settings(max_examples=200, deadline=None)
@given(
    p1=st.floats(0, 1),
    p2=st.floats(0, 1),
    rt1=st.floats(0, 1),
    rt2=st.floats(0, 1),
    strategy=st.sampled_from(["canary", "rolling", "blue_green", "shadow"]),
)
def test_parameters_never_loosen_as_risk_rises(
    p1: float, p2: float, rt1: float, rt2: float, strategy: str
) -> None:
    (lo_p, lo_rt), (hi_p, hi_rt) = sorted(
        [(p1, rt1), (p2, rt2)], key=lambda x: risk_level(x[0], x[1])
    )
    lo = parameters_for(strategy, make_request(risk_tolerance=lo_rt), lo_p)
    hi = parameters_for(strategy, make_request(risk_tolerance=hi_rt), hi_p)
    if risk_level(hi_p, hi_rt) == risk_level(lo_p, lo_rt):
        return
    assert all(h <= lw for h, lw in zip(_tightness(hi), _tightness(lo), strict=True))
    if strategy == "rolling":
        assert _SURGE_ORDER[hi.max_surge or "0"] <= _SURGE_ORDER[lo.max_surge or "0"]


def test_high_risk_canary_starts_small_and_waits_for_a_human() -> None:
    params = parameters_for("canary", make_request(risk_tolerance=0.05), 0.8)
    assert params.steps[0].weight <= 1.0 and params.auto_promote is False
    assert params.analysis_interval_s <= 15 and params.bake_time_s >= 900


@given(replicas=st.integers(5, 40), p=st.floats(0, 1))
def test_canary_without_a_router_uses_weights_pods_can_express(replicas: int, p: float) -> None:
    req = make_request(
        resources={"spare_capacity": 0.0, "replicas": replicas},
        capabilities={"traffic_mirroring": False, "traffic_splitting": False},
    )
    unit = 100.0 / replicas
    for step in parameters_for("canary", req, p).steps:
        assert 0 < step.weight < 100
        assert abs(step.weight / unit - round(step.weight / unit)) < 0.01


@settings(max_examples=50, deadline=None)
@given(rt=st.floats(0, 1), p=st.floats(0, 1))
def test_stateful_rolling_stops_the_old_pod_first(rt: float, p: float) -> None:
    req = make_request(app_type="stateful", risk_tolerance=rt)
    params = parameters_for("rolling", req, p, stateful=True)
    assert (params.max_surge, params.max_unavailable) == ("0", "1")
    assert parameters_for("blue_green", req, p, stateful=True).auto_promote is False


@settings(max_examples=60, deadline=None)
@given(rt=st.floats(0, 1), p=st.floats(0, 0.6))
def test_frequent_deployers_never_get_a_plan_that_ties_up_more_time(rt: float, p: float) -> None:
    """Time-to-rollout (doubled-capacity minutes count 1.5x) is worth more at 48/day."""
    rec = StrategyRecommender(explore=False)

    def machine_time(freq: float) -> float:
        req = make_request(risk_tolerance=rt, deploy_frequency_per_day=freq)
        d = rec.what_if(req, p)
        factor = 1.5 if d.strategy in rec.costs.double_capacity else 1.0
        return plan_duration_s(d.strategy, d.parameters, req.resources.replicas) * factor

    assert machine_time(48.0) <= machine_time(0.2)
