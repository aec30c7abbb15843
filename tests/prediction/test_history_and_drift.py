"""Outcome history, online metrics and the drift recovery policy."""

from __future__ import annotations

import pickle
import random

from models.drift import ChallengerRace, DriftMonitor
from models.history_features import OutcomeHistory
from models.online_metrics import PrequentialMetrics, ThresholdSelector
from models.prediction import SuccessPredictor
from tests.prediction.helpers import finished, request


def test_history_counts_streaks_and_state_conditional_rates() -> None:
    h = OutcomeHistory()
    for i, failed in enumerate([True, True, False, True]):
        state = h.state()
        h.record_request(float(i))
        h.record_outcome(failed, float(i) + 0.5, state)
    assert (h.n, h.failures, h.last, h.streak, h.since_failure) == (4, 3, 1, 1, 0)
    f = h.features("app", 10.0, 0.25)
    assert f["app_fail_streak"] > 0 and f["app_ok_streak"] == 0
    # the one request made right after a single failure also failed: that state leans "fail"
    assert h.state_failures[h.state()] == h.state_n[h.state()] == 1
    assert f["app_state_rate"] > 0 > OutcomeHistory().features("x", 0, 0.25)["x_state_rate"]


def test_history_features_do_not_depend_on_outcomes_not_yet_arrived() -> None:
    h = OutcomeHistory()
    h.record_request(0.0)
    h.record_request(1.0)  # both running
    assert h.features("app", 2.0, 0.3)["app_new"] == 1.0
    assert h.pending == 2


def test_threshold_follows_the_f1_optimum() -> None:
    s = ThresholdSelector(every=10, min_positives=5)
    for i in range(400):  # failures score 0.6-0.7, successes below 0.4
        s.update(0.6 + (i % 10) / 100 if i % 4 == 0 else (i % 40) / 100, 1 if i % 4 == 0 else 0)
    assert 0.39 <= s.threshold <= 0.6


def test_prequential_metrics_score_the_alarm_raised_at_request_time() -> None:
    m = PrequentialMetrics()
    m.update(0.9, 1, alarm=0)  # a confident miss because the threshold was high then
    assert m.as_dict()["f1"] is None or m.as_dict()["f1"] == 0.0
    assert m.tp == 0 and m.fn == 1


def test_drift_monitor_flags_a_rise_in_loss_only() -> None:
    up = DriftMonitor(warmup=10)
    for _ in range(400):
        up.update(0.3)
    assert any(up.update(1.5, at=99.0) for _ in range(400))
    assert up.last_detection_at == 99.0
    down = DriftMonitor(warmup=10)
    for _ in range(400):
        down.update(1.5)
    assert not any(down.update(0.3) for _ in range(400))


def test_race_drops_a_challenger_that_never_wins() -> None:
    race = ChallengerRace(min_labels=5, max_labels=20)
    for _ in range(19):
        race.update(0.3, 0.6)
        assert race.verdict() == "continue"
    race.update(0.3, 0.6)
    assert race.verdict() == "drop"


def test_drift_resets_threshold_and_starts_a_challenger_that_can_be_promoted() -> None:
    pred = SuccessPredictor(metrics_every=100)
    pred.drift = DriftMonitor(warmup=50)
    n, flagged = 0, False

    coin = random.Random(7)
    bigs = [coin.random() < 0.5 for _ in range(3000)]  # history cannot predict a coin

    def big(i: int) -> bool:
        return bigs[i]

    def gap(at: int) -> float:
        big_p = pred.what_if(request(at, app="svc", churn=100_000)).p_failure
        return big_p - pred.what_if(request(at, app="svc", churn=1)).p_failure

    gaps = []
    for big_fails in (True, False):  # the meaning of a big change flips: concept drift
        for _ in range(1500):
            req = request(n, app="svc", churn=100_000 if big(n) else 1)
            pred.predict(req)
            m = pred.learn(finished(req, big(n) == big_fails))
            flagged = flagged or bool(m and m.drift_detected)
            n += 1
        gaps.append(gap(n))
    assert gaps[0] > 0.5 and gaps[1] < -0.5  # it learned the old meaning, then the new one
    assert pred.drift.detections >= 1 and flagged
    assert pred.generation == 2 and pred.model_version.endswith("g2")  # challenger promoted
    assert pred.metrics()["drift"]["detections"] == pred.drift.detections


def test_state_digest_tracks_learning_and_survives_pickle() -> None:
    pred = SuccessPredictor()
    req = request(0)
    pred.predict(req)
    before = pred.state_digest()
    assert pickle.loads(pickle.dumps(pred)).state_digest() == before
    pred.learn(finished(req, True))
    assert pred.state_digest() != before
