"""Behaviour of SuccessPredictor: delayed labels, once-only learning, state, explanations."""

from __future__ import annotations

import pickle

from models.prediction import SuccessPredictor
from schemas import derived_id
from tests.prediction.helpers import fails, finished, request


def _train(pred: SuccessPredictor, n: int, apps: tuple[str, ...] = ("good", "bad")) -> None:
    for i in range(n):
        for app in apps:
            req = request(i, app=app)
            pred.predict(req)
            pred.learn(finished(req, fails(i, app)))


def test_cold_start_returns_the_prior_for_an_unknown_app() -> None:
    pred = SuccessPredictor(prior=0.3)
    p = pred.predict(request(0, app="brand-new"))
    assert abs(p.p_failure - 0.3) < 1e-9
    assert p.alarm == 0 and p.threshold == 0.5


def test_prediction_ids_and_times_derive_from_the_request() -> None:
    req = request(3)
    p = SuccessPredictor().predict(req)
    assert p.id == derived_id(req.id, "prediction")
    assert p.occurred_at == req.occurred_at and p.request_id == req.id
    assert p.deployment_id == req.deployment_id


def test_failing_app_scores_higher_than_healthy_app_after_learning() -> None:
    pred = SuccessPredictor()
    _train(pred, 300)
    bad = pred.what_if(request(300, app="bad"))
    good = pred.what_if(request(300, app="good"))
    assert bad.p_failure > 0.5 > good.p_failure


def test_each_label_is_learned_exactly_once() -> None:
    pred = SuccessPredictor()
    req = request(0)
    pred.predict(req)
    fin = finished(req, True)
    pred.learn(fin)
    state = pickle.dumps(pred)
    assert pred.learn(fin) is None  # duplicate finished event
    assert pred.labels == 1 and pred.ignored["duplicate_or_unknown"] == 1
    pred.ignored["duplicate_or_unknown"] = 0
    assert pickle.dumps(pred) == state  # nothing else moved


def test_outcome_without_prediction_is_ignored() -> None:
    pred = SuccessPredictor()
    assert pred.learn(finished(request(0), False)) is None
    assert pred.labels == 0 and not pred.histories


def test_label_only_known_when_outcome_arrives() -> None:
    pred = SuccessPredictor()
    first, second = request(0), request(1)
    pred.predict(first)
    before = pred.what_if(second).p_failure
    pred.predict(second)  # first still running: its failure must not be visible yet
    assert pred.pending[second.deployment_id].features["app_new"] == 1.0
    pred.learn(finished(first, True))
    after = pred.what_if(request(2)).p_failure
    assert after > before


def test_redelivered_request_gets_the_same_prediction_and_is_held_once() -> None:
    pred = SuccessPredictor()
    req = request(0)
    a, b = pred.predict(req), pred.predict(req)
    assert a == b and len(pred.pending) == 1
    pred.learn(finished(req, False))
    pred.predict(req)  # re-delivered after its outcome was learned
    assert not pred.pending


def test_aborted_deployment_is_dropped_without_learning() -> None:
    pred = SuccessPredictor()
    req = request(0)
    pred.predict(req)
    fin = finished(req, False).model_copy(update={"outcome": "aborted"})
    assert pred.learn(fin) is None
    assert pred.labels == 0 and not pred.pending
    assert pred.histories["app\x1fshop"].pending == 0


def test_what_if_stores_nothing() -> None:
    pred = SuccessPredictor()
    _train(pred, 20)
    state = pickle.dumps(pred)
    pred.what_if(request(500, app="bad"))
    pred.what_if(request(501, app="unknown"))
    assert pickle.dumps(pred) == state


def test_pickle_round_trip_predicts_and_learns_identically() -> None:
    pred = SuccessPredictor()
    _train(pred, 60)
    held = request(999, app="bad")
    pred.predict(held)
    clone = pickle.loads(pickle.dumps(pred))
    probe = request(300, app="bad")
    assert clone.what_if(probe) == pred.what_if(probe)
    fin = finished(held, True)
    assert clone.learn(fin) == pred.learn(fin)
    assert clone.what_if(probe) == pred.what_if(probe)


def test_metrics_record_every_k_labels_with_prequential_figures() -> None:
    pred = SuccessPredictor(metrics_every=25)
    records = []
    for i in range(50):
        req = request(i, app="bad")
        pred.predict(req)
        m = pred.learn(finished(req, fails(i, "bad")))
        if m is not None:
            records.append((i, m))
    assert [i for i, _ in records] == [24, 49]
    last = records[-1][1]
    assert last.n == 50 and last.log_loss is not None and last.brier is not None
    assert last.id == derived_id("fin-bad-49", "model.metrics")
    assert last.model_version == pred.model_version


def test_explanation_signs_follow_the_failure_history() -> None:
    pred = SuccessPredictor()
    _train(pred, 300)
    bad = pred.what_if(request(300, app="bad"))
    assert bad.explanation, "an explanation is expected once the model has learned"
    assert len(bad.explanation) <= 5
    weights = [abs(c.weight) for c in bad.explanation]
    assert weights == sorted(weights, reverse=True)
    assert sum(c.weight for c in bad.explanation) > 0  # pushes towards failure
    good = pred.what_if(request(300, app="good"))
    assert sum(c.weight for c in good.explanation) < 0


def test_alarm_threshold_moves_off_the_default_with_labels() -> None:
    pred = SuccessPredictor()
    _train(pred, 400)
    assert pred.threshold.threshold != 0.5
    p = pred.what_if(request(2000, app="bad"))
    assert p.alarm == (1 if p.p_failure >= p.threshold else 0)
