"""Every hard constraint, as a table: the request, what must be excluded, and why."""

from __future__ import annotations

from typing import Any

import pytest

from models.strategy_constraints import (
    ConstraintConfig,
    excluded_strategies,
    parse_rules,
)
from schemas import STRATEGIES
from tests.strategy.builders import make_request

CFG = ConstraintConfig()

# (case, request overrides, strategies that must be excluded, a word the reason must contain)
EXCLUDED_CASES: list[tuple[str, dict[str, Any], set[str], str]] = [
    ("pci never recreates", {"compliance": ["pci"]}, {"recreate"}, "pci"),
    ("sox never recreates", {"compliance": ["SOX"]}, {"recreate"}, "sox"),
    ("hipaa scope suffix counts", {"compliance": ["hipaa:phi"]}, {"recreate"}, "hipaa"),
    (
        "low risk tolerance excludes recreate",
        {"risk_tolerance": 0.29},
        {"recreate"},
        "risk_tolerance",
    ),
    (
        "blue_green needs a full spare copy",
        {"resources": {"spare_capacity": 0.99, "replicas": 10}},
        {"blue_green"},
        "spare_capacity",
    ),
    (
        "shadow needs mirroring",
        {"capabilities": {"traffic_mirroring": False, "traffic_splitting": True}},
        {"shadow"},
        "traffic_mirroring",
    ),
    (
        "canary without splitting needs replicas",
        {
            "capabilities": {"traffic_mirroring": True, "traffic_splitting": False},
            "resources": {"spare_capacity": 1.5, "replicas": 4},
        },
        {"canary"},
        "replicas",
    ),
    ("stateful keeps one writer", {"app_type": "stateful"}, {"canary", "shadow"}, "writer"),
    (
        "stateful label keeps one writer",
        {"labels": {"stateful": "true"}},
        {"canary", "shadow"},
        "writer",
    ),
]

ALLOWED_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("permissive request allows everything", {}, set(STRATEGIES)),
    (
        "untagged-looking compliance is not regulated",
        {"compliance": ["pcix", "team-pay"]},
        {"recreate"},
    ),
    ("risk tolerance at the threshold allows recreate", {"risk_tolerance": 0.3}, {"recreate"}),
    (
        "spare capacity exactly 1.0 allows blue_green",
        {"resources": {"spare_capacity": 1.0, "replicas": 10}},
        {"blue_green"},
    ),
    (
        "five replicas approximate a 20% canary",
        {
            "capabilities": {"traffic_mirroring": True, "traffic_splitting": False},
            "resources": {"spare_capacity": 1.5, "replicas": 5},
        },
        {"canary"},
    ),
    (
        "stateful may roll, cut over or recreate",
        {"app_type": "stateful"},
        {"rolling", "blue_green", "recreate"},
    ),
]


@pytest.mark.parametrize(
    ("case", "overrides", "must", "word"), EXCLUDED_CASES, ids=[c[0] for c in EXCLUDED_CASES]
)
def test_constraint_excludes_with_a_reason(
    case: str, overrides: dict[str, Any], must: set[str], word: str
) -> None:
    excluded = excluded_strategies(make_request(**overrides), CFG)
    assert must <= set(excluded), case
    for s in must:
        assert word.lower() in excluded[s].lower()


@pytest.mark.parametrize(
    ("case", "overrides", "allowed"), ALLOWED_CASES, ids=[c[0] for c in ALLOWED_CASES]
)
def test_constraint_allows_just_inside_its_threshold(
    case: str, overrides: dict[str, Any], allowed: set[str]
) -> None:
    excluded = excluded_strategies(make_request(**overrides), CFG)
    assert not allowed & set(excluded), (case, excluded)


def test_thresholds_are_configurable() -> None:
    strict = ConstraintConfig(
        compliance_tags=frozenset({"internal-audit"}), min_replicas_canary_without_splitting=20
    )
    req = make_request(
        compliance=["internal-audit"],
        capabilities={"traffic_mirroring": True, "traffic_splitting": False},
    )
    assert set(excluded_strategies(req, strict)) == {"recreate", "canary"}
    assert "recreate" not in excluded_strategies(make_request(compliance=["pci"]), strict)


RULES = parse_rules(
    [
        {
            "name": "prod-payments",
            "match": {"app": ["pay", "ledger"], "environment": "production"},
            "exclude": ["rolling", "recreate"],
            "reason": "payments go out gradually",
        },
        {
            "name": "gdpr-no-shadow",
            "match": {"compliance": "GDPR"},
            "exclude": "shadow",
            "reason": "mirrored traffic copies personal data",
        },
        {
            "name": "tier0",
            "match": {"labels": {"tier": "0"}, "app_type": ["api", "web"]},
            "exclude": ["rolling"],
            "reason": "tier 0 needs a verified step",
        },
    ]
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"app": "pay"}, {"rolling", "recreate"}),
        ({"app": "pay", "environment": "staging"}, set()),
        ({"compliance": ["gdpr"]}, {"shadow", "recreate"}),
        ({"labels": {"tier": "0"}, "app_type": "api"}, {"rolling"}),
        ({"labels": {"tier": "0"}, "app_type": "worker"}, set()),
        ({"labels": {"tier": "1"}, "app_type": "api"}, set()),
    ],
)
def test_policy_rules_exclude_when_all_conditions_match(
    overrides: dict[str, Any], expected: set[str]
) -> None:
    excluded = excluded_strategies(make_request(**overrides), CFG, RULES)
    assert set(excluded) == expected
    for s in expected - {"recreate"}:
        assert excluded[s].startswith("policy rule")


def test_builtin_reason_wins_over_a_rule_for_the_same_strategy() -> None:
    excluded = excluded_strategies(make_request(app="pay", compliance=["pci"]), CFG, RULES)
    assert "compliance" in excluded["recreate"]


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"exclude": ["rolling"]}, "rules[0].reason"),
        ({"exclude": [], "reason": "r"}, "rules[0].exclude"),
        ({"exclude": ["fast"], "reason": "r"}, "rules[0].exclude"),
        ({"exclude": ["rolling"], "reason": "r", "match": {"team": "x"}}, "rules[0].match.team"),
        (
            {"exclude": ["rolling"], "reason": "r", "match": {"labels": {"a": 1}}},
            "rules[0].match.labels",
        ),
        ({"exclude": ["rolling"], "reason": "r", "match": {"app": 3}}, "rules[0].match.app"),
        ({"exclude": ["rolling"], "reason": "r", "when": {}}, "rules[0].when"),
    ],
)
def test_parse_rules_names_the_bad_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_rules([doc])
