"""DDL of the history store, one constant per object (used by ``migrations``).

Frozen once released: a change to an applied object is a new migration
(``ALTER`` / ``CREATE OR REPLACE VIEW``), never an edit here, because applied
migrations are not run again.
"""

from __future__ import annotations

TS = "DateTime64(3, 'UTC')"
_DEDUP = "SETTINGS non_replicated_deduplication_window = 1000"
_COMMON = f"""id String,
    occurred_at {TS},
    inserted_at DateTime('UTC') DEFAULT now(),
    payload String CODEC(ZSTD(3))"""


def _records(name: str, columns: str, order_by: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {name} (\n    {_COMMON},\n    {columns}\n)\n"
        f"ENGINE = ReplacingMergeTree\nPARTITION BY toYYYYMM(occurred_at)\n"
        f"ORDER BY ({order_by})\n{_DEDUP}"
    )


RECORD_TABLES = (
    _records(
        "deploy_events",
        """type LowCardinality(String),
    deployment_id String,
    app LowCardinality(String),
    environment LowCardinality(String),
    version String,
    previous_version String,
    strategy LowCardinality(String),
    outcome LowCardinality(String),
    reason String""",
        "deployment_id, id",
    ),
    _records(
        "predictions",
        """deployment_id String,
    app LowCardinality(String),
    environment LowCardinality(String),
    request_id String,
    p_failure Float64,
    alarm UInt8,
    threshold Float64,
    model_version LowCardinality(String)""",
        "deployment_id, id",
    ),
    _records(
        "decisions",
        """deployment_id String,
    app LowCardinality(String),
    environment LowCardinality(String),
    request_id String,
    strategy LowCardinality(String),
    p_failure Float64,
    policy_version LowCardinality(String)""",
        "deployment_id, id",
    ),
    _records(
        "kpi_windows",
        f"""deployment_id String,
    app LowCardinality(String),
    track LowCardinality(String),
    kpi LowCardinality(String),
    window_start {TS},
    window_end {TS},
    value Nullable(Float64),
    baseline Nullable(Float64),
    threshold Nullable(Float64),
    samples UInt32,
    status LowCardinality(String),
    anomaly_score Nullable(Float64)""",
        "deployment_id, id",
    ),
    _records(
        "verdicts",
        """deployment_id String,
    app LowCardinality(String),
    state LowCardinality(String),
    previous_state LowCardinality(String),
    reason String,
    held UInt8""",
        "deployment_id, id",
    ),
    _records(
        "rollbacks",
        """deployment_id String,
    app LowCardinality(String),
    environment LowCardinality(String),
    strategy LowCardinality(String),
    from_version String,
    to_version String,
    reason String,
    forced UInt8,
    requested_by String""",
        "deployment_id, id",
    ),
    _records(
        "actions",
        """command_id String,
    deployment_id String,
    app LowCardinality(String),
    backend LowCardinality(String),
    status LowCardinality(String),
    detail String,
    attempts UInt32""",
        "deployment_id, id",
    ),
    _records(
        "overrides",
        """deployment_id String,
    app LowCardinality(String),
    action LowCardinality(String),
    reason String,
    actor String""",
        "deployment_id, id",
    ),
    _records(
        "audit",
        """actor String,
    action LowCardinality(String),
    subject String,
    deployment_id String,
    reason String""",
        "occurred_at, id",
    ),
    _records(
        "model_metrics",
        """model LowCardinality(String),
    model_version String,
    n UInt64,
    roc_auc Nullable(Float64),
    log_loss Nullable(Float64),
    brier Nullable(Float64),
    f1 Nullable(Float64),
    threshold Nullable(Float64),
    drift_detected UInt8""",
        "model, occurred_at, id",
    ),
)

METRIC_SAMPLES = f"""CREATE TABLE IF NOT EXISTS metric_samples (
    batch_id String,
    series_index UInt32,
    app LowCardinality(String),
    name LowCardinality(String),
    labels Map(String, String),
    deployment_id String,
    version String,
    track LowCardinality(String),
    ts {TS},
    value Nullable(Float64),
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (app, name, deployment_id, track, ts, batch_id, series_index)
{_DEDUP}"""

DEPLOYMENTS = f"""CREATE TABLE IF NOT EXISTS deployments (
    deployment_id String,
    app SimpleAggregateFunction(max, String),
    environment SimpleAggregateFunction(max, String),
    version SimpleAggregateFunction(max, String),
    previous_version SimpleAggregateFunction(max, String),
    first_seen SimpleAggregateFunction(min, {TS}),
    requested_at SimpleAggregateFunction(min, Nullable({TS})),
    started_at SimpleAggregateFunction(min, Nullable({TS})),
    finished_at SimpleAggregateFunction(max, Nullable({TS})),
    strategy AggregateFunction(argMax, String, {TS}),
    recommended_strategy AggregateFunction(argMax, String, {TS}),
    has_prediction SimpleAggregateFunction(max, UInt8),
    p_failure AggregateFunction(argMax, Float64, {TS}),
    outcome AggregateFunction(argMax, String, {TS}),
    finish_reason AggregateFunction(argMax, String, {TS}),
    rollback_ids AggregateFunction(uniqExact, String),
    last_verdict AggregateFunction(argMax, String, {TS}),
    last_override AggregateFunction(argMax, String, {TS})
)
ENGINE = AggregatingMergeTree
ORDER BY deployment_id"""

_IS = "type = 'deployment.{}'"
DEPLOY_EVENTS_MV = f"""CREATE MATERIALIZED VIEW IF NOT EXISTS deployments_from_events
TO deployments AS SELECT
    deployment_id,
    max(app) AS app,
    max(environment) AS environment,
    maxIf(version, {_IS.format("requested")} OR {_IS.format("started")}) AS version,
    max(previous_version) AS previous_version,
    min(occurred_at) AS first_seen,
    minIf(toNullable(occurred_at), {_IS.format("requested")}) AS requested_at,
    minIf(toNullable(occurred_at), {_IS.format("started")}) AS started_at,
    maxIf(toNullable(occurred_at), {_IS.format("finished")}) AS finished_at,
    argMaxStateIf(strategy, occurred_at, {_IS.format("started")}) AS strategy,
    argMaxStateIf(outcome, occurred_at, {_IS.format("finished")}) AS outcome,
    argMaxStateIf(reason, occurred_at, {_IS.format("finished")}) AS finish_reason
FROM deploy_events GROUP BY deployment_id"""


def _feed(view: str, source: str, extra: str) -> str:
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view}\nTO deployments AS SELECT\n"
        f"    deployment_id,\n    max(app) AS app,\n    min(occurred_at) AS first_seen,\n"
        f"    {extra}\nFROM {source} GROUP BY deployment_id"
    )


FEEDS = (
    _feed(
        "deployments_from_predictions",
        "predictions",
        "max(environment) AS environment,\n    1 AS has_prediction,\n"
        "    argMaxState(p_failure, occurred_at) AS p_failure",
    ),
    _feed(
        "deployments_from_decisions",
        "decisions",
        "max(environment) AS environment,\n"
        "    argMaxState(strategy, occurred_at) AS recommended_strategy",
    ),
    _feed("deployments_from_rollbacks", "rollbacks", "uniqExactState(id) AS rollback_ids"),
    _feed(
        "deployments_from_verdicts", "verdicts", "argMaxState(state, occurred_at) AS last_verdict"
    ),
    _feed(
        "deployments_from_overrides",
        "overrides",
        "argMaxState(action, occurred_at) AS last_override",
    ),
)

#: One row per deployment, merged from ``deployments`` (the API and Grafana read this).
DEPLOYMENT_SUMMARY_VIEW = """CREATE VIEW IF NOT EXISTS deployment_summary AS
SELECT *,
    coalesce(requested_at, first_seen) AS sort_at,
    if(started_strategy != '', started_strategy, recommended_strategy) AS strategy,
    if(has_prediction = 1, toNullable(p_failure_raw), NULL) AS p_failure,
    if(outcome_raw != '', toNullable(outcome_raw), NULL) AS outcome,
    multiIf(outcome_raw != '', outcome_raw, started_at IS NOT NULL, 'started', 'requested')
        AS status
FROM (
    SELECT
        deployment_id,
        max(app) AS app,
        max(environment) AS environment,
        max(version) AS version,
        max(previous_version) AS previous_version,
        min(first_seen) AS first_seen,
        min(requested_at) AS requested_at,
        min(started_at) AS started_at,
        max(finished_at) AS finished_at,
        argMaxMerge(strategy) AS started_strategy,
        argMaxMerge(recommended_strategy) AS recommended_strategy,
        max(has_prediction) AS has_prediction,
        argMaxMerge(p_failure) AS p_failure_raw,
        argMaxMerge(outcome) AS outcome_raw,
        argMaxMerge(finish_reason) AS finish_reason,
        uniqExactMerge(rollback_ids) AS rollback_count,
        argMaxMerge(last_verdict) AS last_verdict,
        argMaxMerge(last_override) AS last_override
    FROM deployments
    GROUP BY deployment_id
)"""
