"""TravisTorrent-format CSV → time-ordered deployment events (for the benchmarks).

Each kept build becomes a ``DeploymentRequested`` at ``gh_build_started_at`` and a
``DeploymentFinished`` at ``gh_build_started_at + tr_duration`` (failed/errored =
``failed``, passed = ``succeeded``; canceled builds are dropped). ``tr_status`` and
``tr_duration`` only decide the label and *when* it arrives; they are never put in
the request. A build without ``tr_duration`` gets its label at the end of the replay
(it never informs another prediction). Events are ordered by event time; at equal
times requests go first (strict: a label arriving in the same second is not yet known).

Mapping onto the schema (every field is something a CI system knows at request time):
``gh_project_name``→app, ``tr_build_id``→deployment_id, ``git_branch``→environment
(the stream the build deploys), ``tr_build_number``→version, ``tr_prev_build``→
previous_version, diff sizes→``change``, ``gh_is_pr``→``labels.trigger``
(pull_request|push), ``gh_by_core_team_member``→``labels.author`` (core|external).
"""

from __future__ import annotations

import csv
import gzip
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas import Change, DeploymentFinished, DeploymentRequested

DEFAULT_DATA = (
    Path(__file__).resolve().parents[3] / "shared/data/travistorrent/travistorrent_dev.csv.gz"
)
FAILED = frozenset({"failed", "errored"})
KEPT = FAILED | {"passed"}


@dataclass(frozen=True)
class Build:
    """One kept CSV row: its events, its label and when the label arrives."""

    build_id: str
    request: DeploymentRequested
    finished: DeploymentFinished
    failed: int
    requested_at: float
    finished_at: float  # math.inf when the CSV has no duration


def _int(row: dict[str, str], key: str) -> int:
    raw = (row.get(key) or "").strip()
    try:
        return max(int(float(raw)), 0) if raw else 0
    except ValueError:
        return 0


def _ts(raw: str) -> datetime:
    return datetime.fromisoformat(raw.strip().replace("Z", "")).replace(tzinfo=UTC)


def row_to_build(row: dict[str, str]) -> Build | None:
    """Turn one CSV row into a :class:`Build` (None for canceled/unknown status)."""
    status = (row.get("tr_status") or "").strip()
    if status not in KEPT:
        return None
    started = _ts(row["gh_build_started_at"])
    build_id = row["tr_build_id"].strip()
    prev = (row.get("tr_prev_build") or "").strip()
    request = DeploymentRequested(
        id=f"travis-req-{build_id}",
        occurred_at=started,
        deployment_id=build_id,
        app=row["gh_project_name"].strip()[:200] or "unknown",
        environment=(row.get("git_branch") or "").strip()[:100] or "unknown",
        version=f"build-{(row.get('tr_build_number') or '0').strip()}",
        previous_version=str(int(float(prev))) if prev else None,
        change=Change(
            files_changed=_int(row, "gh_diff_files_added")
            + _int(row, "gh_diff_files_deleted")
            + _int(row, "gh_diff_files_modified"),
            src_churn=_int(row, "git_diff_src_churn"),
            test_churn=_int(row, "git_diff_test_churn"),
            commits=_int(row, "git_num_all_built_commits"),
        ),
        labels={
            "trigger": "pull_request" if row.get("gh_is_pr", "").strip() == "True" else "push",
            "author": "core"
            if row.get("gh_by_core_team_member", "").strip() == "True"
            else "external",
        },
    )
    raw_duration = (row.get("tr_duration") or "").strip()
    duration = float(raw_duration) if raw_duration else math.inf
    failed = 1 if status in FAILED else 0
    finished_at = started.timestamp() + duration
    finished = DeploymentFinished(
        id=f"travis-fin-{build_id}",
        occurred_at=started + timedelta(seconds=duration if math.isfinite(duration) else 0),
        deployment_id=build_id,
        app=request.app,
        environment=request.environment,
        outcome="failed" if failed else "succeeded",
        reason=status,
    )
    return Build(build_id, request, finished, failed, started.timestamp(), finished_at)


def load_builds(path: Path, progress_every: int = 20_000) -> list[Build]:
    """All kept builds of a TravisTorrent-format ``.csv`` or ``.csv.gz``."""
    csv.field_size_limit(1 << 30)
    opener = gzip.open if str(path).endswith(".gz") else open
    builds: list[Build] = []
    with opener(path, "rt", newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh), 1):
            build = row_to_build(row)
            if build is not None:
                builds.append(build)
            if progress_every and i % progress_every == 0:
                print(f"loaded {i} rows", file=sys.stderr, flush=True)
    return builds


def events(builds: list[Build]) -> Iterator[tuple[int, Build]]:
    """``(kind, build)`` in event-time order; kind 0 = request, 1 = outcome."""
    order: list[tuple[float, int, int]] = []
    for i, b in enumerate(builds):
        order.append((b.requested_at, 0, i))
        order.append((b.finished_at, 1, i))
    order.sort()
    for _, kind, i in order:
        yield kind, builds[i]
