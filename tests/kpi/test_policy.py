"""Policies as code: defaults, per-app merging, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.policy import PolicyError, build_policies, load_policies
from models.policy_values import parse_duration

REPO = Path(__file__).resolve().parents[2]


def test_builtin_defaults_cover_error_rate_latency_cpu_memory() -> None:
    p = load_policies(None).for_app("anything")
    kinds = {k.name: k.kind for k in p.kpis}
    assert kinds == {
        "error_rate": "ratio",
        "latency_p99": "quantile",
        "cpu": "counter_rate",
        "memory": "gauge_avg",
    }
    err = p.kpis[0]
    assert err.numerator is not None and err.numerator.match == {"code": "5.."}
    assert p.kpis[1].quantile == 0.99 and p.kpis[1].metric is not None
    assert p.kpis[1].metric.metric == "http_request_duration_seconds_bucket"


def test_shipped_default_file_equals_builtin_defaults() -> None:
    shipped = load_policies(REPO / "deploy" / "policies" / "default.yaml")
    assert shipped.default == load_policies(None).default
    checkout = shipped.for_app("checkout")
    assert checkout.bake_time == 900 and checkout.kpis[0].max == 0.01
    assert checkout.kpis[0].x_of_y == (3, 5)
    assert [k.name for k in shipped.for_app("batch-report").active_kpis] == ["cpu", "memory"]


def test_app_kpis_merge_by_name_and_new_ones_are_appended() -> None:
    ps = build_policies(
        {
            "apps": {
                "web": {
                    "analysis_interval": "30s",
                    "kpis": [
                        {"name": "latency_p99", "max_ratio": 1.2},
                        {"name": "queue", "kind": "custom", "metric": {"metric": "q"}, "max": 5},
                    ],
                }
            }
        }
    )
    web = ps.for_app("web")
    assert web.analysis_interval == 30
    assert [k.name for k in web.kpis][-1] == "queue"
    lat = next(k for k in web.kpis if k.name == "latency_p99")
    assert lat.max_ratio == 1.2 and lat.max == 2.0  # untouched default fields stay
    assert ps.for_app("other").analysis_interval == 10


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (
            {
                "apps": {
                    "web": {"kpis": [{"name": "x", "kind": "promql", "metric": {"metric": "m"}}]}
                }
            },
            "apps.web.kpis.4.kind",
        ),
        ({"defaults": {"analysis_interval": "3 parsecs"}}, "defaults.analysis_interval"),
        (
            {
                "apps": {
                    "web": {"kpis": [{"name": "r", "kind": "ratio", "numerator": {"metric": "a"}}]}
                }
            },
            "needs 'numerator' and",
        ),
        (
            {
                "apps": {
                    "web": {
                        "kpis": [
                            {"name": "q", "kind": "quantile", "metric": {"metric": "h_bucket"}}
                        ]
                    }
                }
            },
            "needs 'quantile'",
        ),
        (
            {
                "apps": {
                    "web": {
                        "kpis": [
                            {
                                "name": "g",
                                "kind": "gauge_avg",
                                "metric": {"metric": "m", "match": {"a": "(["}},
                            }
                        ]
                    }
                }
            },
            "invalid regular expression",
        ),
        ({"apps": {"web": {"kpis": [{"name": "error_rate", "x_of_y": "5/3"}]}}}, "x_of_y"),
        (
            {"apps": {"web": {"kpis": [{"name": "error_rate", "maximum": 1}]}}},
            "apps.web.kpis.0.maximum",
        ),
        ({"app": {}}, "unknown top-level keys"),
    ],
)
def test_invalid_policies_are_rejected_with_the_field_named(doc: dict, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        build_policies(doc, "test.yaml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("test.yaml: ")


def test_invalid_yaml_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("defaults: [unclosed\n")
    with pytest.raises(PolicyError, match="p.yaml: invalid YAML"):
        load_policies(bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("250ms", 0.25), (45, 45), ("2", 2)],
)
def test_durations_accept_units_and_plain_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_for_and_x_of_y_are_read_from_yaml_spelling() -> None:
    ps = build_policies(
        {"defaults": {"kpis": [{"name": "error_rate", "for": "1m", "x_of_y": [2, 4]}]}}
    )
    k = ps.default.kpis[0]
    assert (k.for_, k.x_of_y) == (60, (2, 4))


def test_an_app_selector_replaces_the_default_selector_instead_of_merging_labels() -> None:
    ps = build_policies(
        {
            "apps": {
                "web": {"kpis": [{"name": "error_rate", "numerator": {"metric": "errors_total"}}]}
            }
        }
    )
    num = ps.for_app("web").kpis[0].numerator
    assert num is not None and (num.metric, num.match) == ("errors_total", {})


def test_strategy_rules_pass_through_to_the_strategy_recommender() -> None:
    rules = [{"name": "no-recreate-for-web", "when": {"app_type": "web"}}]
    assert build_policies({"strategy_rules": rules}).strategy_rules == rules
    assert load_policies(None).strategy_rules is None
    with pytest.raises(PolicyError, match="strategy_rules: must be a list of mappings"):
        build_policies({"strategy_rules": "all"})
