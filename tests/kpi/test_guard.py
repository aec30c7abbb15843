"""DeploymentGuard end to end on realistic metric batches (pure, no broker)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from models.guard import DeploymentGuard
from models.policy import build_policies, load_policies
from schemas import MetricBatch, RollbackCommand, Series, Verdict, derived_id
from tests.kpi.factory import (
    T0_MS,
    Fleet,
    TrackLoad,
    at,
    drive,
    finished,
    lifecycle,
    of_type,
    override,
    step,
)

HEALTHY = {"baseline": TrackLoad(), "canary": TrackLoad(), "stable": TrackLoad(pods=4)}


def started_guard(strategy: str = "canary", policies: Any = None) -> DeploymentGuard:
    g = DeploymentGuard(policies or load_policies(None))
    for ev in lifecycle(strategy=strategy):
        assert g.on_deploy_event(ev) == []
    return g


def canary(**kw: float) -> dict[str, TrackLoad]:
    return {**HEALTHY, "canary": TrackLoad(**kw)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("regression", "kpi"),
    [
        ({"error_rate": 0.2}, "error_rate"),
        ({"latency_s": 0.4}, "latency_p99"),
        ({"cpu": 0.9}, "cpu"),
        ({"memory": 600e6}, "memory"),
    ],
)
def test_sustained_regression_of_each_default_kpi_rolls_back_once(
    regression: dict, kpi: str
) -> None:
    g = started_guard()
    out = drive(g, Fleet(), canary(**regression), T0_MS + 5000, 60)
    rollbacks = of_type(out, "RollbackCommand")
    assert len(rollbacks) == 1
    rb = rollbacks[0]
    assert isinstance(rb, RollbackCommand)
    assert rb.id == derived_id("d1", "rollback")
    assert (rb.from_version, rb.to_version, rb.app, rb.forced) == ("v2", "v1", "web", False)
    assert kpi in rb.reason and any(e.kpi == kpi for e in rb.evidence)
    assert rb.evidence[0].window_end is not None and rb.evidence[0].value is not None


def test_healthy_canary_is_never_rolled_back_and_verdicts_say_healthy() -> None:
    g = started_guard()
    out = drive(g, Fleet(), HEALTHY, T0_MS + 5000, 120)
    assert of_type(out, "RollbackCommand") == []
    states = [v.state for v in of_type(out, "Verdict")]  # type: ignore[attr-defined]
    assert states[-1] == "healthy" and states.count("healthy") > 0.9 * len(states)
    windows = of_type(out, "KpiWindow")
    assert {w.kpi for w in windows} == {"error_rate", "latency_p99", "cpu", "memory"}  # type: ignore[attr-defined]


def test_threshold_blip_shorter_than_for_is_degraded_but_not_rolled_back() -> None:
    pol = build_policies(
        {"defaults": {"kpis": [{"name": "error_rate", "window": "10s", "judge": False}]}}
    )
    g = started_guard(policies=pol)
    out = drive(
        g, Fleet(), lambda i: canary(error_rate=0.3) if 20 <= i < 22 else HEALTHY, T0_MS + 5000, 60
    )
    assert of_type(out, "RollbackCommand") == []
    assert "degraded" in [v.state for v in of_type(out, "Verdict")]  # type: ignore[attr-defined]


def test_missing_canary_data_is_inconclusive_then_error_never_rollback() -> None:
    g = started_guard()
    out = drive(g, Fleet(), {"baseline": TrackLoad(error_rate=0.5)}, T0_MS + 5000, 60)
    assert of_type(out, "RollbackCommand") == []
    states = [v.state for v in of_type(out, "Verdict")]  # type: ignore[attr-defined]
    assert states[:6] == ["inconclusive"] * 6 and states[-1] == "error"


def test_staleness_markers_and_nan_are_ignored_not_counted_as_samples() -> None:
    g = started_guard()
    stale = Series(
        name="http_requests_total",
        labels={"code": "500"},
        deployment_id="d1",
        track="canary",
        timestamps_ms=[T0_MS + 5000 * i for i in range(1, 40)],
        values=[None] * 39,
    )
    batch = MetricBatch(id="b", occurred_at=at(T0_MS + 200_000), app="web", series=[stale])
    out = g.on_metrics(batch)
    assert of_type(out, "RollbackCommand") == []
    assert all(
        v.state == "inconclusive" or v.state == "error"  # type: ignore[attr-defined]
        for v in of_type(out, "Verdict")
    )


def test_hold_blocks_rollback_and_release_sends_it() -> None:
    g = started_guard()
    held = g.on_override(override("d1", "hold", T0_MS + 1000))
    assert held[0].held is True  # type: ignore[attr-defined]
    out = drive(g, Fleet(), canary(error_rate=0.3), T0_MS + 5000, 40)
    assert of_type(out, "RollbackCommand") == []
    verdicts = of_type(out, "Verdict")
    assert verdicts[-1].state == "rollback" and verdicts[-1].held  # type: ignore[attr-defined]
    released = g.on_override(override("d1", "release", T0_MS + 300_000))
    (rb,) = of_type(released, "RollbackCommand")
    assert rb.forced is False and "released by alice" in rb.reason  # type: ignore[attr-defined]


def test_forced_rollback_goes_even_when_healthy_and_names_the_actor() -> None:
    g = started_guard()
    drive(g, Fleet(), HEALTHY, T0_MS + 5000, 20)
    out = g.on_override(override("d1", "force_rollback", T0_MS + 120_000, actor="bob"))
    (rb,) = of_type(out, "RollbackCommand")
    assert isinstance(rb, RollbackCommand)
    assert (rb.forced, rb.requested_by, rb.to_version) == (True, "bob", "v1")
    (v,) = of_type(out, "Verdict")
    assert isinstance(v, Verdict) and v.state == "rollback" and v.previous_state == "healthy"
    assert drive(g, Fleet(), canary(error_rate=0.5), T0_MS + 130_000, 20) == []


def test_forced_rollback_of_an_unknown_deployment_still_goes() -> None:
    g = DeploymentGuard(load_policies(None))
    (_, rb) = g.on_override(override("ghost", "force_rollback", T0_MS))
    assert isinstance(rb, RollbackCommand) and rb.forced and rb.deployment_id == "ghost"


def test_watching_continues_during_bake_and_stops_after_it() -> None:
    pol = build_policies({"defaults": {"bake_time": "2m"}})
    g = started_guard(policies=pol)
    f = Fleet()
    drive(g, f, HEALTHY, T0_MS + 5000, 24)
    g.on_deploy_event(step("d1", "web", T0_MS + 125_000))
    g.on_deploy_event(finished("d1", "web", T0_MS + 126_000))
    promoted = {"stable": TrackLoad(pods=4, error_rate=0.4)}  # new version everywhere, bad
    out = drive(g, f, promoted, T0_MS + 130_000, 12)
    assert len(of_type(out, "RollbackCommand")) == 1

    g2 = started_guard(policies=pol)
    f2 = Fleet()
    drive(g2, f2, HEALTHY, T0_MS + 5000, 24)
    g2.on_deploy_event(step("d1", "web", T0_MS + 125_000))
    g2.on_deploy_event(finished("d1", "web", T0_MS + 126_000))
    out = drive(g2, f2, {"stable": TrackLoad(pods=4)}, T0_MS + 130_000, 40)
    last = of_type(out, "Verdict")[-1]
    assert "bake time passed" in last.reason  # type: ignore[attr-defined]
    after = drive(g2, f2, {"stable": TrackLoad(pods=4, error_rate=0.5)}, T0_MS + 400_000, 20)
    assert of_type(after, "RollbackCommand") == [] and of_type(after, "Verdict") == []


def test_finished_deployment_state_is_dropped() -> None:
    g = started_guard()
    drive(g, Fleet(), HEALTHY, T0_MS + 5000, 10)
    g.on_deploy_event(finished("d1", "web", T0_MS + 60_000, outcome="failed"))
    out = drive(g, Fleet(seed=1), canary(error_rate=0.5), T0_MS + 65_000, 30)
    assert out == []


def test_series_without_deployment_id_are_routed_by_version_label() -> None:
    g = started_guard(strategy="rolling")
    loads = {
        "stable": TrackLoad(version="v1", pods=3),
        "canary": TrackLoad(version="v2", error_rate=0.3),
    }
    out = drive(g, Fleet(deployment_id=None), loads, T0_MS + 5000, 40)
    (rb,) = of_type(out, "RollbackCommand")
    assert rb.evidence[0].track == "canary"  # type: ignore[attr-defined]


def test_learned_history_is_the_baseline_for_a_rolling_deployment() -> None:
    g = DeploymentGuard(load_policies(None))
    before = Fleet(deployment_id=None)
    drive(g, before, {"stable": TrackLoad(pods=4)}, T0_MS - 600_000, 120)  # healthy history
    for ev in lifecycle(strategy="rolling"):
        g.on_deploy_event(ev)
    out = drive(
        g,
        Fleet(deployment_id=None, seed=3),
        {"stable": TrackLoad(pods=4, cpu=0.9)},
        T0_MS + 5000,
        40,
    )
    (rb,) = of_type(out, "RollbackCommand")
    assert "cpu" in rb.reason  # type: ignore[attr-defined]
    cpu = [w for w in of_type(out, "KpiWindow") if w.kpi == "cpu"]  # type: ignore[attr-defined]
    assert cpu[-1].baseline == pytest.approx(0.3, rel=0.1)  # type: ignore[attr-defined]


def test_custom_kpi_from_an_app_policy() -> None:
    pol = load_policies(None).model_copy()
    pol = build_policies(
        {
            "apps": {
                "web": {
                    "kpis": [
                        {
                            "name": "queue",
                            "kind": "custom",
                            "metric": {"metric": "smartdeploy_queue.*"},
                            "aggregate": "max",
                            "max": 500,
                            "for": "20s",
                        }
                    ]
                }
            }
        }
    )
    g = started_guard(policies=pol)
    out = drive(g, Fleet(), canary(queue=900.0), T0_MS + 5000, 30)
    (rb,) = of_type(out, "RollbackCommand")
    assert "queue" in rb.reason  # type: ignore[attr-defined]


def test_guard_is_picklable_midstream_and_resumes_identically() -> None:
    def run(split: bool) -> list[str]:
        g = started_guard()
        f = Fleet()
        out = drive(g, f, HEALTHY, T0_MS + 5000, 30)
        if split:
            g = pickle.loads(pickle.dumps(g))
        out += drive(g, f, canary(latency_s=0.5), T0_MS + 155_000, 30)
        return [o.model_dump_json() for o in out]  # type: ignore[attr-defined]

    assert run(False) == run(True)


def test_memory_is_bounded_by_windows_not_by_samples() -> None:
    g = started_guard()
    f = Fleet()
    drive(g, f, HEALTHY, T0_MS + 5000, 50)
    w = g._watches["d1"].windows
    assert w is not None
    size = w.nbytes()
    drive(g, f, HEALTHY, T0_MS + 255_000, 500)
    assert w.nbytes() == size
