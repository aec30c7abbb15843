"""Table tests for every rule kind: thresholds, judge tests, learned score, sustain, states."""

from __future__ import annotations

import numpy as np
import pytest

from models.anomaly import LevelScorer
from models.kpi import KpiSample
from models.policy import build_policies
from models.verdict import KpiStatus, Machine, Sustain, assess

POLICY = build_policies(None).default


def kpi(**rule: object):  # a gauge KPI with just the given rule fields
    doc = {
        "name": "k",
        "kind": "gauge_avg",
        "metric": {"metric": "m"},
        "judge": False,
        "learned": False,
        **rule,
    }
    return build_policies({"defaults": {"kpis": [doc]}}).default.kpis[-1]


def sample(
    value: float | None,
    samples: int = 10,
    points: list[float] | None = None,
    num: float = 0.0,
    den: float = 0.0,
) -> KpiSample:
    return KpiSample(value, samples, np.asarray(points if points is not None else []), num, den)


@pytest.mark.parametrize(
    ("rule", "value", "baseline", "expected", "fired"),
    [
        ({"max": 0.05}, 0.2, None, "breach", "max"),
        ({"max": 0.05}, 0.01, None, "ok", ""),
        ({"min": 10.0, "direction": "down"}, 5.0, None, "breach", "min"),
        ({"min": 10.0, "direction": "down"}, 50.0, None, "ok", ""),
        ({"max_ratio": 1.5}, 2.0, 1.0, "breach", "max_ratio"),
        ({"max_ratio": 1.5}, 1.4, 1.0, "ok", ""),
        ({"max_ratio": 1.5, "relative_floor": 5.0}, 2.0, 1.0, "ok", ""),  # under the noise floor
        ({"min_ratio": 0.5, "direction": "down"}, 40.0, 100.0, "breach", "min_ratio"),
        ({"min_ratio": 0.5, "direction": "down"}, 60.0, 100.0, "ok", ""),
        ({"max_delta": 0.1}, 0.35, 0.2, "breach", "max_delta"),
        ({"max_delta": 0.1}, 0.25, 0.2, "ok", ""),
        ({"max_ratio": 1.5}, 2.0, None, "inconclusive", ""),  # relative rule without a baseline
    ],
)
def test_threshold_rules(
    rule: dict, value: float, baseline: float | None, expected: str, fired: str
) -> None:
    ref = sample(baseline) if baseline is not None else None
    st = assess(kpi(**rule), POLICY, "canary", sample(value), ref, None)
    assert (st.status, st.rule) == (expected, fired)


@pytest.mark.parametrize(
    ("subject", "why"),
    [
        (sample(None, samples=0), "no data"),
        (sample(0.9, samples=1), "samples"),
        (sample(float("nan")), "no value"),
    ],
)
def test_missing_or_broken_data_is_inconclusive_not_breach(subject: KpiSample, why: str) -> None:
    st = assess(kpi(max=0.05), POLICY, "canary", subject, sample(0.01), None)
    assert st.status == "inconclusive" and why in st.detail


rng = np.random.default_rng(7)
BASE = rng.normal(100, 5, 40)


SPREAD = np.r_[np.full(10, 0.003), np.zeros(30)]  # errors in 10 of 40 buckets
CLUMP = np.r_[0.03, np.zeros(39)]


@pytest.mark.parametrize(
    ("canary", "num", "test"),
    [
        (BASE * 1.5, None, "judge:shift"),
        ((BASE - 100) * 4 + 100, None, "judge:spread"),  # equal median, 4x the spread
        (SPREAD, (30.0, 2.0), "judge:counts"),  # sparse errors: 30 vs 2 at equal traffic
        (CLUMP, (30.0, 2.0), ""),  # the same errors in one bucket: one incident, not enough
        (rng.normal(100, 5, 40), None, ""),
    ],
)
def test_canary_judge_rules(canary: np.ndarray, num: tuple[float, float] | None, test: str) -> None:
    k = kpi(judge=True)
    ref_pts = np.zeros(40) if num else BASE
    subj = KpiSample(
        float(np.mean(canary)), 40, canary, num[0] if num else 0.0, 1000.0 if num else 0.0
    )
    ref = KpiSample(
        float(np.mean(ref_pts)), 40, ref_pts, num[1] if num else 0.0, 1000.0 if num else 0.0
    )
    st = assess(k, POLICY, "canary", subj, ref, None, [(subj, ref)])
    assert st.rule == test and st.status == ("breach" if test else "ok")


def test_learned_threshold_rule_fires_only_after_enough_healthy_history() -> None:
    k = kpi(learned=True)
    learner = LevelScorer()
    for v in rng.normal(0.3, 0.01, 20):
        learner.learn(float(v))
    early = assess(k, POLICY, "stable", sample(0.9), None, learner)  # too little history
    assert early.status == "inconclusive" and "no rule applies" in early.detail
    for v in rng.normal(0.3, 0.01, 40):
        learner.learn(float(v))
    st = assess(k, POLICY, "stable", sample(0.9), None, learner)
    assert (st.status, st.rule) == ("breach", "learned") and st.anomaly_score is not None
    assert assess(k, POLICY, "stable", sample(0.3), None, learner).status == "ok"


@pytest.mark.parametrize(
    ("for_s", "x_of_y", "seq", "fires_at"),
    [
        (30, None, "BBBB", 3),  # 10 s ticks: breach at 0,10,20,30 s → sustained for 30 s
        (30, None, "BBIBBBB", 6),  # an inconclusive window resets the streak
        (30, None, "BBOBBB", None),
        (None, (3, 5), "BOBOB", 4),
        (None, (3, 5), "BOOBOOB", None),
        (None, None, "OB", 1),  # no sustain rule: the first breach
        (60, (2, 3), "BOB", 2),  # either rule fires
    ],
)
def test_sustained_rules(
    for_s: int | None, x_of_y: tuple[int, int] | None, seq: str, fires_at: int | None
) -> None:
    s = Sustain(for_s * 1000 if for_s is not None else None, x_of_y)
    names = {"B": "breach", "O": "ok", "I": "inconclusive"}
    fired = [i for i, c in enumerate(seq) if s.update(names[c], i * 10_000)]
    assert (fired[0] if fired else None) == fires_at


def st(status: str) -> KpiStatus:
    return KpiStatus("k", "canary", status, 1.0, 10)


@pytest.mark.parametrize(
    ("rounds", "sustained", "expected"),
    [
        ([["ok", "ok"]], [], "healthy"),
        ([["ok", "breach"]], [], "degraded"),
        ([["ok", "breach"]], ["k"], "rollback"),
        ([["inconclusive", "inconclusive"]], [], "inconclusive"),
        ([["ok", "inconclusive"]], [], "healthy"),
        ([["inconclusive"]] * 4, [], "error"),  # limit 3 exceeded
        ([["inconclusive"]] * 3 + [["ok"]], [], "healthy"),
    ],
)
def test_state_machine(rounds: list[list[str]], sustained: list[str], expected: str) -> None:
    m = Machine()
    state = ""
    for statuses in rounds:
        state, _ = m.step([st(s) for s in statuses], sustained, 3)
    assert state == expected
    assert m.counters["evaluations"] == len(rounds)
