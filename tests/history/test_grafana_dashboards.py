"""Every Grafana panel's SQL runs on chdb with seeded history and returns what its panel needs.

Macros are expanded the way grafana-clickhouse-datasource documents them
(``$__timeFilter(c)`` -> ``c >= toDateTime(from) AND c <= toDateTime(to)``,
``$__timeInterval(c)`` -> ``toStartOfInterval(toDateTime(c), INTERVAL n second)``, ...),
and template variables with their "All" value and with a concrete value.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartdeploy.history import HistoryStore
from tests.history.factory import T0, lifecycle, model_metrics, override_and_audit

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
FROM, TO = T0 - timedelta(days=1), T0 + timedelta(days=30)
INTERVAL_S = 600


def expand_macros(sql: str, start: datetime, end: datetime, interval_s: int) -> str:
    """The plugin's macros, as its documentation defines them (``_ms`` forms too)."""
    f, t = int(start.timestamp()), int(end.timestamp())
    fm, tm = f * 1000, t * 1000
    rules: list[tuple[str, Any]] = [
        (
            r"\$__timeFilter_ms\(([^)]+)\)",
            lambda m: (
                f"{m[1]} >= fromUnixTimestamp64Milli({fm}) AND "
                f"{m[1]} <= fromUnixTimestamp64Milli({tm})"
            ),
        ),
        (
            r"\$__timeFilter\(([^)]+)\)",
            lambda m: f"{m[1]} >= toDateTime({f}) AND {m[1]} <= toDateTime({t})",
        ),
        (
            r"\$__dateFilter\(([^)]+)\)",
            lambda m: (
                f"{m[1]} >= toDate('{start:%Y-%m-%d}') AND {m[1]} <= toDate('{end:%Y-%m-%d}')"
            ),
        ),
        (
            r"\$__timeInterval_ms\(([^)]+)\)",
            lambda m: (
                f"toStartOfInterval(toDateTime64({m[1]}, 3), "
                f"INTERVAL {interval_s * 1000} millisecond)"
            ),
        ),
        (
            r"\$__timeInterval\(([^)]+)\)",
            lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL {interval_s} second)",
        ),
        (r"\$__fromTime_ms\b", lambda m: f"fromUnixTimestamp64Milli({fm})"),
        (r"\$__toTime_ms\b", lambda m: f"fromUnixTimestamp64Milli({tm})"),
        (r"\$__fromTime\b", lambda m: f"toDateTime({f})"),
        (r"\$__toTime\b", lambda m: f"toDateTime({t})"),
        (r"\$__interval_s\b", lambda m: str(interval_s)),
    ]
    for pattern, repl in rules:
        sql = re.sub(pattern, repl, sql)
    return sql


def expand_vars(sql: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        sql = sql.replace("${" + name + "}", value)
        sql = re.sub(r"\$" + name + r"\b", value, sql)
    return sql


def _seed(store: HistoryStore) -> None:
    records: list[Any] = []
    apps, strategies = ("web", "api", "jobs"), ("canary", "rolling", "blue_green")
    outcomes = ("succeeded", "succeeded", "failed", "rolled_back", None)
    for i in range(30):
        records += lifecycle(
            f"g{i:02d}",
            app=apps[i % 3],
            strategy=strategies[i % 3],
            start=T0 + timedelta(hours=i),
            outcome=outcomes[i % 5],
            rollback=i % 5 == 3,
            p_failure=(i % 10) / 10 + 0.05,
            env="staging" if i % 4 == 0 else "production",
        )
    records += override_and_audit("g03", T0 + timedelta(hours=3, minutes=1))
    records += [model_metrics(n, T0 + timedelta(hours=n), 0.5 + n / 100) for n in range(1, 25)]
    store.insert(records)


def _kind(type_name: str) -> str:
    base = re.sub(r"^(Nullable|LowCardinality)\((.*)\)$", r"\2", type_name)
    base = re.sub(r"^(Nullable|LowCardinality)\((.*)\)$", r"\2", base)
    if base.startswith(("DateTime", "Date")):
        return "time"
    if re.match(r"^(U?Int\d+|Float\d+|Decimal)", base):
        return "number"
    if base.startswith(("String", "FixedString", "Enum")):
        return "string"
    return "other"


def check_panel(kind: str, names: list[str], kinds: list[str], rows: int) -> list[str]:
    """What the panel type needs from its query result; returns the problems found."""
    problems: list[str] = []
    numbers = [n for n, k in zip(names, kinds, strict=True) if k == "number"]
    if kind == "timeseries":
        if "time" not in kinds:
            problems.append("timeseries needs a time column")
        if not numbers:
            problems.append("timeseries needs a numeric column")
    elif kind == "stat":
        if not numbers:
            problems.append("stat needs a numeric column")
    elif kind == "barchart":
        if "string" not in kinds and "time" not in kinds:
            problems.append("barchart needs a string or time x column")
        if not numbers:
            problems.append("barchart needs a numeric column")
    elif kind == "table":
        if not names:
            problems.append("table needs columns")
    else:
        problems.append(f"unchecked panel type {kind}")
    return problems


def _panels() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for path in DASHBOARDS:
        doc = json.loads(path.read_text())
        for panel in doc["panels"]:
            out.append((f"{path.stem}:{panel['title']}", doc, panel))
    return out


PANELS = _panels()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = HistoryStore(f"chdb://{tmp_path_factory.mktemp('grafana') / 'chdb'}").open()
    _seed(store)
    yield store
    store.close()


CONCRETE = {
    "app": "web",
    "environment": "production",
    "model": "success",
    "deployment": "g03",
    "kpi": "error_rate",
}
ALL = {**CONCRETE, "app": "__all", "environment": "__all"}


def test_there_are_the_six_views_the_issue_asks_for() -> None:
    titles = " | ".join(t.lower() for t, _, _ in PANELS)
    for needle in (
        "deployments timeline",
        "success rate by app and strategy",
        "calibration",
        "roc auc",
        "kpi value vs threshold",
        "rollbacks and overrides",
        "time to rollback",
        "executor actions",
    ):
        assert needle in titles


@pytest.mark.parametrize(("title", "doc", "panel"), PANELS, ids=[t for t, _, _ in PANELS])
def test_panel_sql_runs_and_returns_the_columns_its_type_needs(
    seeded: HistoryStore, title: str, doc: dict[str, Any], panel: dict[str, Any]
) -> None:
    declared = {v["name"] for v in doc["templating"]["list"]}
    for values in (ALL, CONCRETE):
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "smartdeploy-clickhouse"
            assert target["editorType"] == "sql"
            # the plugin's formats: 0 = time series, 1 = table
            assert target["format"] == (0 if panel["type"] == "timeseries" else 1)
            sql = expand_vars(
                expand_macros(target["rawSql"], FROM, TO, INTERVAL_S),
                {k: v for k, v in values.items() if k in declared},
            )
            assert "$" not in sql, f"unexpanded macro or variable in {title}"
            result = seeded.query_result(sql)
            kinds = [_kind(t.name) for t in result.column_types]
            assert (
                check_panel(
                    panel["type"], list(result.column_names), kinds, len(result.result_rows)
                )
                == []
            )
            if values is ALL:
                assert result.result_rows, f"{title}: no rows on seeded history"


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_template_variable_queries_run(seeded: HistoryStore, path: Path) -> None:
    doc = json.loads(path.read_text())
    for var in doc["templating"]["list"]:
        assert var["query"]["editorType"] == "sql" and var["definition"] == var["query"]["rawSql"]
        sql = expand_vars(expand_macros(var["query"]["rawSql"], FROM, TO, INTERVAL_S), CONCRETE)
        assert seeded.query_result(sql).result_rows, var["name"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_layout_is_valid(path: Path) -> None:
    doc = json.loads(path.read_text())
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)) and doc["uid"].startswith("smartdeploy-")
    for p in doc["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0


def test_provisioning_points_at_the_clickhouse_plugin_and_the_dashboards() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/clickhouse.yaml").read_text())
    [source] = ds["datasources"]
    assert source["type"] == "grafana-clickhouse-datasource"
    assert source["uid"] == "smartdeploy-clickhouse"
    assert source["jsonData"]["protocol"] == "http"
    prov = yaml.safe_load((GRAFANA / "provisioning/dashboards/smartdeploy.yaml").read_text())
    assert prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/smartdeploy"


def test_the_macro_expander_follows_the_plugin() -> None:
    start, end = datetime.fromtimestamp(100), datetime.fromtimestamp(200)
    sql = expand_macros(
        "WHERE $__timeFilter(ts) GROUP BY $__timeInterval(ts), $__interval_s", start, end, 60
    )
    assert sql == (
        "WHERE ts >= toDateTime(100) AND ts <= toDateTime(200) GROUP BY "
        "toStartOfInterval(toDateTime(ts), INTERVAL 60 second), 60"
    )
