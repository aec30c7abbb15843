"""Learned thresholds: the live scorer is the benchmarked one; bounded, pure, picklable.

Also pins the NAB-style benchmark scorer (tests/bench/nab_score.py) to its definition.
"""

from __future__ import annotations

import copy
import math
import pickle
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.anomaly import LevelScorer
from models.kpi_detector import PointDetector, from_unit, to_unit
from tests.bench.nab_score import Labelled, probation_of, score_corpus, windows_from_labels

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


def _history(seed: int, n: int = 200) -> list[float]:
    rnd = random.Random(seed)
    return [rnd.gauss(50, 3) for _ in range(n)]


def test_live_learned_threshold_is_the_benchmarked_detector() -> None:
    live, bench = LevelScorer(), PointDetector(probation=0)
    for v in _history(3):
        live.learn(v)
        bench.score(v)
    for probe in (50.0, 58.0, 80.0, 20.0):
        expected = bench.likelihood(probe)
        assert live.score(probe, "both") == expected
        assert to_unit(live.score(probe, "both")) == PointDetector(**vars(bench)).score(probe)


def test_scoring_a_window_does_not_teach_the_learner() -> None:
    s = LevelScorer()
    for v in _history(4):
        s.learn(v)
    before = pickle.dumps(s)
    for _ in range(100):
        s.score(500.0)
    assert pickle.dumps(s) == before and s.score(500.0) > 0.999


def test_learned_score_only_alarms_in_the_bad_direction() -> None:
    s = LevelScorer()
    for v in _history(5):
        s.learn(v)
    assert s.score(90.0, "up") > 0.999 and s.score(90.0, "down") < 0.6
    assert s.score(10.0, "down") > 0.999 and s.score(10.0, "up") < 0.6


def test_learner_survives_a_checkpoint_with_identical_scores() -> None:
    s = LevelScorer()
    for v in _history(6):
        s.learn(v)
    copy = pickle.loads(pickle.dumps(s))
    for v in [50.0, 61.0, 44.0, 75.0]:
        assert copy.score(v) == s.score(v)
        copy.learn(v)
        s.learn(v)
    assert copy == s


def test_benchmark_threshold_maps_to_the_live_likelihood_threshold() -> None:
    for t in (0.1, 0.1671, 0.5, 0.9):
        assert math.isclose(to_unit(from_unit(t)), t, abs_tol=1e-6)


def _corpus(fire: str) -> list[Labelled]:
    rnd = random.Random(7)
    files = []
    for k in range(4):
        n = 3000
        labels = np.zeros(n, dtype=int)
        labels[[900 + 100 * k, 2000 + 50 * k]] = 1
        wins = windows_from_labels(labels, probation_of(n))
        scores = np.zeros(n)
        if fire == "perfect":
            scores[[lo for lo, _, _ in wins]] = 1.0
        elif fire == "onset":
            scores[np.flatnonzero(labels)] = 1.0
        elif fire == "onset+noise":
            scores[np.flatnonzero(labels)] = 1.0
            scores[[rnd.randrange(probation_of(n), n) for _ in range(20)]] = 0.9
        files.append(Labelled(str(k), scores, wins, probation_of(n), np.arange(n) * 60.0))
    return files


def test_nab_score_is_normalised_between_silent_and_perfect_detectors() -> None:
    assert score_corpus(_corpus("perfect")).normalized == 100.0
    assert score_corpus(_corpus("silent")).normalized == 0.0
    onset = score_corpus(_corpus("onset"))
    assert 80.0 < onset.normalized < 100.0 and (onset.tp, onset.fn, onset.fp) == (8, 0, 0)
    noisy = score_corpus(_corpus("onset+noise"))  # the optimal threshold ignores noise at 0.9
    assert noisy.normalized == onset.normalized and noisy.threshold == 1.0


def test_nab_false_positives_cost_more_the_further_from_a_window() -> None:
    base = _corpus("onset")
    _, hi, _ = base[0].windows[0]
    near, far = (copy.deepcopy(base) for _ in range(2))
    near[0].scores[hi + 2] = 1.0
    far[0].scores[hi + 400] = 1.0
    s_near, s_far = (score_corpus(c) for c in (near, far))
    assert score_corpus(base).normalized > s_near.normalized > s_far.normalized
