"""Learned thresholds: scores bounded, scored before learned, quiet on healthy history."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from models.anomaly import LevelScorer
from models.kpi_detector import PointDetector

finite = st.floats(-1e12, 1e12, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(finite, st.just(math.nan), st.just(math.inf)), max_size=300))
def test_point_detector_scores_stay_in_unit_interval(values: list[float]) -> None:
    d = PointDetector(probation=5, quiet=3)
    assert all(0.0 <= d.score(v) <= 1.0 for v in values)


def test_each_point_is_scored_before_it_is_learned() -> None:
    rnd = random.Random(1)
    history = [rnd.gauss(100, 2) for _ in range(300)]
    a, b = PointDetector(probation=20), PointDetector(probation=20)
    for v in history:
        a.score(v)
        b.score(v)
    spike_first = a.score(160.0)  # a has never seen 160
    for _ in range(50):
        b.score(160.0)  # b learns the new level first
    assert spike_first > 0.5 and b.score(160.0) < spike_first


def test_one_incident_raises_one_alarm_not_a_storm() -> None:
    rnd = random.Random(2)
    d = PointDetector(probation=50, quiet=40, max_hold=200, alarm=0.5)
    scores = [d.score(rnd.gauss(10, 1)) for _ in range(500)]
    scores += [d.score(rnd.gauss(30, 1)) for _ in range(40)]  # a sustained shift
    alarms = [i for i, s in enumerate(scores) if s >= d.alarm]
    assert alarms and alarms[0] >= 500 and len(alarms) == 1


@settings(max_examples=50, deadline=None)
@given(st.lists(finite, min_size=1, max_size=200), finite)
def test_level_scorer_is_a_probability(history: list[float], value: float) -> None:
    s = LevelScorer()
    for v in history:
        s.learn(v)
    assert 0.0 <= s.score(value) <= 1.0 and 0.0 <= s.score(value, "down") <= 1.0
