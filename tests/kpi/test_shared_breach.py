"""``shared_breach: hold``: an outage both tracks share does not roll the canary back.

A dependency outage hits baseline and canary alike (30 % 5xx, 2 s median latency for
three minutes). The absolute ``max`` rules see it on the canary; with the default
``shared_breach: rollback`` the canary is rolled back (as Flagger and Argo would do),
with ``hold`` the KPIs are inconclusive while the baseline breaches the same rule, and
the watch goes on. A canary that is worse than its baseline is still rolled back under
``hold``, by the judge, even while the baseline breaches ``max`` too.
"""

from __future__ import annotations

import pytest

from models.guard import DeploymentGuard
from models.policy import build_policies
from tests.kpi.factory import T0_MS, Fleet, TrackLoad, drive, lifecycle, of_type

HEALTHY = TrackLoad(rps=50, error_rate=0.002, latency_s=0.08)
OUTAGE = TrackLoad(rps=50, error_rate=0.30, latency_s=2.0)


def guard(shared_breach: str | None) -> DeploymentGuard:
    doc = {"defaults": {"shared_breach": shared_breach}} if shared_breach else None
    g = DeploymentGuard(build_policies(doc))
    for ev in lifecycle(dep="d1", app="web"):
        g.on_deploy_event(ev)
    return g


def run(g: DeploymentGuard, baseline_in_outage: TrackLoad, canary_in_outage: TrackLoad
        ) -> list[object]:
    """10 healthy minutes, a 3-minute outage, 10 healthy minutes (5 s scrapes, 2 a batch)."""
    fleet = Fleet(app="web", deployment_id="d1", seed=7)

    def loads(i: int) -> dict[str, TrackLoad]:
        outage = 120 <= i < 156
        return {
            "baseline": baseline_in_outage if outage else HEALTHY,
            "canary": canary_in_outage if outage else HEALTHY,
        }

    return drive(g, fleet, loads, T0_MS + 5000, 276, 2)


def test_default_policy_rolls_back_on_an_outage_both_tracks_share() -> None:
    out = run(guard(None), OUTAGE, OUTAGE)
    assert len(of_type(out, "RollbackCommand")) == 1


def test_hold_keeps_the_canary_through_an_outage_both_tracks_share() -> None:
    out = run(guard("hold"), OUTAGE, OUTAGE)
    assert of_type(out, "RollbackCommand") == []
    held = [w for w in of_type(out, "KpiWindow") if "shared_breach" in w.detail]
    assert {w.kpi for w in held} == {"error_rate", "latency_p99"}
    assert all(w.status == "inconclusive" for w in held)
    verdicts = of_type(out, "Verdict")
    during = [v for v in verdicts if "held (breached by the reference track too)" in v.reason]
    assert during and all(v.state == "healthy" for v in during)  # cpu, memory still judged
    assert all(e.rule == "shared_breach" for v in during for e in v.evidence)
    assert verdicts[-1].state == "healthy"  # watching went on after the outage
    assert "held" not in verdicts[-1].reason


@pytest.mark.parametrize("shared_breach", [None, "hold"])
def test_a_canary_alone_in_breach_is_rolled_back_either_way(shared_breach: str | None) -> None:
    out = run(guard(shared_breach), HEALTHY, OUTAGE)
    assert len(of_type(out, "RollbackCommand")) == 1


def test_hold_still_rolls_back_a_canary_worse_than_its_failing_baseline() -> None:
    baseline = TrackLoad(rps=50, error_rate=0.08, latency_s=0.08)  # over max: 0.05 too
    canary = TrackLoad(rps=50, error_rate=0.40, latency_s=0.08)
    out = run(guard("hold"), baseline, canary)
    rollbacks = of_type(out, "RollbackCommand")
    assert len(rollbacks) == 1
    assert any(e.rule.startswith("judge") for e in rollbacks[0].evidence)
