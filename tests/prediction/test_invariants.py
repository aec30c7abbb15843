"""Hypothesis: for any interleaving of requests and (duplicate) outcomes, p is a probability,
each deployment is learned at most once, and a pickled copy behaves identically."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from models.prediction import SuccessPredictor
from tests.prediction.helpers import finished, request

# (kind, deployment index, app index, churn, failed): kind 0 = request, 1 = outcome
steps = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.integers(0, 15),
        st.integers(0, 2),
        st.integers(0, 10**7),
        st.booleans(),
    ),
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(steps)
def test_probability_bounded_and_each_label_learned_once(seq: list) -> None:
    pred = SuccessPredictor(metrics_every=7)
    requested: set[str] = set()
    learned: set[str] = set()
    for kind, n, app_i, churn, failed in seq:
        req = request(n, app=f"app{app_i}", churn=churn)
        dep = req.deployment_id
        if kind == 0:
            p = pred.predict(req)
            assert 0.0 <= p.p_failure <= 1.0
            assert p.alarm == int(p.p_failure >= p.threshold)
            if dep not in learned:
                requested.add(dep)
        else:
            labels_before = pred.labels
            pred.learn(finished(req, failed))
            newly = pred.labels - labels_before
            assert newly == (1 if dep in requested and dep not in learned else 0)
            if newly:
                learned.add(dep)
                requested.discard(dep)
    assert pred.labels == len(learned)
    assert pred.metrics_.n == len(learned)


@settings(max_examples=25, deadline=None)
@given(steps, st.integers(0, 80))
def test_restored_copy_continues_exactly_like_the_original(seq: list, cut: int) -> None:
    a = SuccessPredictor(metrics_every=5)
    b: SuccessPredictor | None = None
    for i, (kind, n, app_i, churn, failed) in enumerate(seq):
        if i == cut:
            b = pickle.loads(pickle.dumps(a))
        req = request(n, app=f"app{app_i}", churn=churn)
        for model in (a, b) if b is not None else (a,):
            out = model.predict(req) if kind == 0 else model.learn(finished(req, failed))
            if model is a:
                expected = out
            else:
                assert out == expected
    if b is not None:
        assert a.state_digest() == b.state_digest()
