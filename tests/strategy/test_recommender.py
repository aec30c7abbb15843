"""The recommender's invariants: safety filter, determinism, learning, state discipline."""

from __future__ import annotations

import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from models.strategy import StrategyRecommender
from models.strategy_bandit import Stats
from models.strategy_constraints import parse_rules
from schemas import (
    STRATEGIES,
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    Prediction,
    StrategyDecision,
    derived_id,
)
from tests.strategy.builders import T0, make_prediction, make_request

APP_TYPES = ["web", "api", "worker", "stateful", "batch", "monolith"]
OUTCOMES = ["succeeded", "failed", "rolled_back", "aborted"]

requests = st.builds(
    lambda dep, app, app_type, rt, spare, replicas, mirror, split, comp, freq, labels: make_request(
        deployment_id=dep,
        app=app,
        app_type=app_type,
        risk_tolerance=rt,
        resources={"spare_capacity": spare, "replicas": replicas},
        capabilities={"traffic_mirroring": mirror, "traffic_splitting": split},
        compliance=comp,
        deploy_frequency_per_day=freq,
        labels=labels,
    ),
    st.text("abcdef0123456789", min_size=1, max_size=12),
    st.sampled_from(["shop", "pay", "search", "ledger"]),
    st.sampled_from(APP_TYPES),
    st.floats(0.0, 1.0),
    st.floats(0.0, 3.0),
    st.integers(0, 30),
    st.booleans(),
    st.booleans(),
    st.lists(st.sampled_from(["pci", "sox", "hipaa", "gdpr", "team-x"]), max_size=2),
    st.floats(0.0, 50.0),
    st.dictionaries(
        st.sampled_from(["stateful", "tier"]), st.sampled_from(["true", "0", "1"]), max_size=2
    ),
)
histories = st.lists(
    st.tuples(
        requests, st.floats(0.0, 1.0), st.sampled_from(STRATEGIES), st.sampled_from(OUTCOMES)
    ),
    max_size=25,
)
RULES = parse_rules(
    [
        {
            "name": "pay-gradual",
            "match": {"app": "pay"},
            "exclude": ["rolling", "recreate"],
            "reason": "payments go out gradually",
        },
        {
            "name": "tier0",
            "match": {"labels": {"tier": "0"}},
            "exclude": ["blue_green", "rolling"],
            "reason": "tier 0",
        },
    ]
)


def replay(rec: StrategyRecommender, history: list[tuple[Any, float, str, str]]) -> None:
    """Feed a learned history: recommend, start with some strategy, finish."""
    for i, (req, p, used, outcome) in enumerate(history):
        req = req.model_copy(update={"deployment_id": f"h{i}", "id": f"h{i}"})
        rec.recommend(req, make_prediction(req, p))
        rec.observe(
            DeploymentStarted(
                occurred_at=T0, deployment_id=req.deployment_id, app=req.app, strategy=used
            )
        )
        rec.observe(
            DeploymentFinished(
                occurred_at=T0, deployment_id=req.deployment_id, app=req.app, outcome=outcome
            )
        )


@settings(max_examples=150, deadline=None)
@given(req=requests, p=st.floats(0.0, 1.0), history=histories, use_rules=st.booleans())
def test_an_excluded_strategy_is_never_chosen(
    req: DeploymentRequested, p: float, history: list[Any], use_rules: bool
) -> None:
    rec = StrategyRecommender(extra_rules=RULES if use_rules else None)
    replay(rec, history)
    decision = rec.recommend(req, make_prediction(req, p))
    if len(decision.excluded) < len(STRATEGIES):
        assert decision.strategy not in decision.excluded
    else:  # nothing feasible: a held decision, never an automatic one
        assert decision.parameters.auto_promote is False
        assert decision.explanation[0].startswith("no strategy satisfies")
    assert set(decision.excluded) <= set(STRATEGIES)
    assert all(reason for reason in decision.excluded.values())


@settings(max_examples=60, deadline=None)
@given(req=requests, p=st.floats(0.0, 1.0), history=histories)
def test_same_state_and_request_give_the_same_decision(
    req: DeploymentRequested, p: float, history: list[Any]
) -> None:
    a, b = StrategyRecommender(), StrategyRecommender()
    replay(a, history)
    replay(b, history)
    assert a.what_if(req, p) == b.what_if(req, p)
    restored = pickle.loads(pickle.dumps(a))
    assert restored.recommend(req, make_prediction(req, p)) == a.recommend(
        req, make_prediction(req, p)
    )


def test_decision_ids_and_time_derive_from_the_request() -> None:
    req = make_request()
    decision = StrategyRecommender().recommend(req, make_prediction(req, 0.2))
    assert decision.id == derived_id(req.id, "decision")
    assert decision.occurred_at == req.occurred_at
    assert decision.request_id == req.id and decision.p_failure == 0.2
    assert decision.explanation and decision.strategy in STRATEGIES


def test_what_if_changes_no_state() -> None:
    rec = StrategyRecommender()
    replay(rec, [(make_request(), 0.3, "canary", "failed")])
    before = pickle.dumps(rec)
    rec.what_if(make_request(deployment_id="other"), 0.9)
    assert pickle.dumps(rec) == before


def _run(rec: StrategyRecommender, dep: str, used: str | None, outcome: str) -> None:
    req = make_request(deployment_id=dep, id=dep)
    rec.recommend(req, make_prediction(req, 0.3))
    if used:
        rec.observe(
            DeploymentStarted(occurred_at=T0, deployment_id=dep, app=req.app, strategy=used)
        )
    rec.observe(DeploymentFinished(occurred_at=T0, deployment_id=dep, app=req.app, outcome=outcome))


def _own(rec: StrategyRecommender, strategy: str) -> tuple[float, float, float]:
    """(runs, rolled back, failed) this app has been credited with for ``strategy``."""
    st = rec.posteriors.app.get(("shop", "production", strategy), Stats())
    return (st.runs, st.caught, st.missed)


def test_outcome_is_credited_to_the_strategy_actually_started() -> None:
    rec = StrategyRecommender()
    _run(rec, "d1", "recreate", "failed")
    assert _own(rec, "recreate") == (1.0, 0.0, 1.0) and rec.labels_learned == 1


def test_outcome_falls_back_to_the_recommended_strategy() -> None:
    rec = StrategyRecommender()
    req = make_request(deployment_id="d2", id="d2")
    chosen = rec.what_if(req, 0.3).strategy
    _run(rec, "d2", None, "rolled_back")
    assert _own(rec, chosen) == (1.0, 1.0, 0.0)


def test_aborted_and_duplicate_outcomes_teach_nothing() -> None:
    rec = StrategyRecommender()
    _run(rec, "d3", "canary", "aborted")
    assert rec.labels_learned == 0 and rec.pending == 0
    _run(rec, "d4", "canary", "succeeded")
    rec.observe(
        DeploymentFinished(occurred_at=T0, deployment_id="d4", app="shop", outcome="failed")
    )
    assert rec.labels_learned == 1 and _own(rec, "canary") == (1.0, 0.0, 0.0)


def test_repeated_failures_move_the_app_away_from_a_strategy() -> None:
    rec = StrategyRecommender()
    req = make_request(
        deployment_id="probe", capabilities={"traffic_mirroring": False, "traffic_splitting": True}
    )
    first = rec.what_if(req, 0.3).strategy
    for i in range(12):
        _run(rec, f"bad{i}", first, "failed")
    assert rec.what_if(req, 0.3).strategy != first


def test_pending_deployments_are_bounded() -> None:
    rec = StrategyRecommender(max_pending=3)
    for i in range(5):
        req = make_request(deployment_id=f"p{i}")
        rec.recommend(req, make_prediction(req, 0.1))
    assert rec.pending == 3


def test_policy_rules_may_come_straight_from_the_policy_file() -> None:
    rec = StrategyRecommender(
        extra_rules=[
            {
                "name": "shop-gradual",
                "match": {"app": "shop"},
                "exclude": ["rolling"],
                "reason": "gradual",
            }
        ]
    )
    decision = rec.what_if(make_request(), 0.2)
    assert decision.excluded["rolling"] == "policy rule 'shop-gradual': gradual"
    assert decision.strategy != "rolling"


class _Predictor:
    def predict(self, req: DeploymentRequested) -> Prediction:
        return make_prediction(req, 0.3)

    def learn(self, fin: DeploymentFinished) -> None:
        return None


class _Guard:
    def on_deploy_event(self, event: Any) -> list[Any]:
        return []


def test_pipeline_emits_a_decision_and_learns_the_outcome() -> None:
    from streams.pipeline import Pipeline

    rec = StrategyRecommender()
    pipe = Pipeline(_Predictor(), rec, _Guard())  # type: ignore[arg-type]
    outs = pipe.handle(make_request(deployment_id="pipe-1"))
    decision = outs[1].record
    assert isinstance(decision, StrategyDecision) and outs[1].topic.endswith("decisions")
    assert decision.strategy not in decision.excluded
    pipe.handle(
        DeploymentFinished(occurred_at=T0, deployment_id="pipe-1", app="shop", outcome="failed")
    )
    restored = Pipeline.restore(pipe.snapshot()).strategist
    assert isinstance(restored, StrategyRecommender)
    assert rec.labels_learned == restored.labels_learned == 1


def test_constraint_thresholds_may_come_from_the_policy_file() -> None:
    rec = StrategyRecommender(config={"compliance_tags": ["internal-audit"],
                                      "min_risk_tolerance_recreate": 0.0})  # fmt: skip
    excluded = rec.what_if(make_request(compliance=["internal-audit"], risk_tolerance=0.1),
                           0.2).excluded  # fmt: skip
    assert set(excluded) == {"recreate"} and "internal-audit" in excluded["recreate"]
    assert "recreate" not in rec.what_if(make_request(compliance=["pci"]), 0.2).excluded
