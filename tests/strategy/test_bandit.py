"""What the outcome posteriors learn, and how it transfers between levels."""

from __future__ import annotations

import numpy as np
import pytest

from models.strategy_bandit import Context, OutcomePosteriors, detection_prior

WEB = Context("shop", "production", "web", 0.2)
PEER = Context("cart", "production", "web", 0.2)
BATCH = Context("etl", "production", "batch", 0.2)


def test_prior_follows_domain_knowledge_before_any_outcome() -> None:
    post = OutcomePosteriors()
    rb, fail = post.mean(WEB, "canary")[1:]
    assert rb / (rb + fail) == pytest.approx(detection_prior("canary", "web"))
    assert post.mean(WEB, "canary")[2] < post.mean(WEB, "recreate")[2]
    assert post.mean(BATCH, "canary")[2] > post.mean(WEB, "canary")[2]


def test_missed_incidents_lower_the_catch_rate_for_the_app_most() -> None:
    post = OutcomePosteriors()
    before = post.belief(WEB, "canary").catch_rate
    for _ in range(6):
        post.update(WEB, "canary", "failed")
    own, peer = post.belief(WEB, "canary").catch_rate, post.belief(PEER, "canary").catch_rate
    assert own < peer < before


def test_what_one_strategy_reveals_about_the_app_transfers_to_others() -> None:
    post = OutcomePosteriors()
    before = post.belief(WEB, "blue_green").catch_rate
    for _ in range(8):
        post.update(WEB, "canary", "rolled_back")
    assert post.belief(WEB, "blue_green").catch_rate > before
    assert post.app_factors(WEB)[0] > 1.0 == post.app_factors(PEER)[0]


def test_more_incidents_than_predicted_raise_the_incident_ratio() -> None:
    post = OutcomePosteriors()
    for _ in range(10):
        post.update(WEB, "rolling", "failed")
    assert post.belief(WEB, "rolling").ratio > 1.5
    assert post.mean(WEB, "rolling")[0] < 1 - WEB.p_failure


def test_successes_keep_the_ratio_calibrated_when_p_is_right() -> None:
    post = OutcomePosteriors()
    rng = np.random.default_rng(7)
    for _ in range(2000):
        incident = rng.random() < WEB.p_failure
        post.update(WEB, "rolling", "rolled_back" if incident else "succeeded")
    assert post.belief(WEB, "rolling").ratio == pytest.approx(1.0, abs=0.1)


def test_draws_are_reproducible_from_the_seed() -> None:
    post = OutcomePosteriors()
    post.update(WEB, "canary", "failed")
    a = post.sample(WEB, "canary", np.random.default_rng(42))
    b = post.sample(WEB, "canary", np.random.default_rng(42))
    assert np.array_equal(a, b) and a.sum() == pytest.approx(1.0)


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="outcome"):
        OutcomePosteriors().update(WEB, "canary", "aborted")
