"""Features of a deployment request: what the request says, plus what history knows.

Why split it out: the live worker, the what-if API and the benchmark must turn a
``DeploymentRequested`` into exactly the same numbers, and the only state they
may use is the outcome history kept online (models/history_features). Heavy-tailed
counts are log-scaled so one huge refactor does not dominate a linear model.

Histories are kept per *stream*: the app, the app in one environment (a branch,
for CI history), the app for one trigger kind (``labels["trigger"]``, e.g.
``pull_request`` vs ``push``), and platform-wide (``*``): a CI/cluster incident
shows up across apps at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from models.history_features import PRIOR_WEIGHT, OutcomeHistory
from schemas import DeploymentRequested

_EMPTY = OutcomeHistory()  # read-only stand-in for a stream with no history yet

#: Prefix of each history stream's features, in the order they are listed.
STREAMS: tuple[str, ...] = ("app", "env", "trig", "all")


def stream_keys(req: DeploymentRequested) -> tuple[str, ...]:
    """History keys of a request, one per entry of ``STREAMS``.

    >>> from datetime import datetime, UTC
    >>> r = DeploymentRequested(occurred_at=datetime(2024, 1, 1, tzinfo=UTC), deployment_id="d",
    ...     app="shop", version="v1", environment="main", labels={"trigger": "push"})
    >>> stream_keys(r)
    ('app\\x1fshop', 'env\\x1fshop\\x1fmain', 'trig\\x1fshop\\x1fpush', '*')
    """
    sep = "\x1f"
    trigger = req.labels.get("trigger", "")
    return (
        f"app{sep}{req.app}",
        f"env{sep}{req.app}{sep}{req.environment}",
        f"trig{sep}{req.app}{sep}{trigger}",
        "*",
    )


def _flag(labels: Mapping[str, str], key: str, true_values: tuple[str, ...]) -> float:
    return 1.0 if labels.get(key, "").lower() in true_values else 0.0


def request_features(req: DeploymentRequested) -> dict[str, float]:
    """Numbers the request itself carries, log-scaled where heavy-tailed.

    >>> from datetime import datetime, UTC
    >>> r = DeploymentRequested(occurred_at=datetime(2024, 1, 1, 6, tzinfo=UTC), deployment_id="d",
    ...     app="shop", version="v1", labels={"trigger": "pull_request"})
    >>> f = request_features(r)
    >>> f["is_pull_request"], f["log_src_churn"], round(f["hour_sin"], 3)
    (1.0, 0.0, 1.0)
    """
    c, t, fi = req.change, req.tests, req.findings
    when = req.occurred_at
    hour = (when.hour + when.minute / 60.0) * (2.0 * math.pi / 24.0)
    day = when.weekday() * (2.0 * math.pi / 7.0)
    return {
        "log_files_changed": math.log1p(c.files_changed),
        "log_lines_changed": math.log1p(c.lines_added + c.lines_deleted),
        "log_src_churn": math.log1p(c.src_churn),
        "log_test_churn": math.log1p(c.test_churn),
        "test_share_of_churn": c.test_churn / (c.src_churn + c.test_churn + 1.0),
        "log_commits": math.log1p(c.commits),
        "log_tests_run": math.log1p(t.run),
        "log_tests_failed": math.log1p(t.failed),
        "log_tests_skipped": math.log1p(t.skipped),
        "coverage": t.coverage if t.coverage is not None else 0.0,
        "coverage_missing": 1.0 if t.coverage is None else 0.0,
        "log_findings_severe": math.log1p(fi.critical * 4 + fi.high),
        "log_findings_minor": math.log1p(fi.medium + fi.low),
        "risk_tolerance": req.risk_tolerance,
        "hour_sin": math.sin(hour),
        "hour_cos": math.cos(hour),
        "weekend": 1.0 if when.weekday() >= 5 else 0.0,
        "day_sin": math.sin(day),
        "day_cos": math.cos(day),
        "is_pull_request": _flag(req.labels, "trigger", ("pull_request", "pr", "merge_request")),
        "by_core_team": _flag(req.labels, "author", ("core", "member", "maintainer")),
    }


def build_features(
    req: DeploymentRequested,
    histories: Mapping[str, OutcomeHistory],
    prior: float,
) -> dict[str, float]:
    """All features of ``req`` given the current histories (read-only).

    ``prior`` is the failure rate assumed where a stream has no history yet (cold start).
    """
    now = req.occurred_at.timestamp()
    out = request_features(req)
    empty = _EMPTY
    keys = stream_keys(req)
    app = histories.get(keys[0], empty)
    # Hierarchical prior: a new branch of a known app starts from the app's own rate.
    app_prior = (app.failures + prior * PRIOR_WEIGHT) / (app.n + PRIOR_WEIGHT)
    for prefix, key in zip(STREAMS, keys, strict=True):
        stream_prior = app_prior if prefix in ("env", "trig") else prior
        out.update(histories.get(key, empty).features(prefix, now, stream_prior))
    return out
