"""Read-side SQL of the history store and its opaque keyset cursors.

Queries use server-side parameters (``{name:Type}``) only, never string
formatting of values, and plain ClickHouse SQL that runs on chdb and a server.
Pages are keyset-paginated: the cursor is the sort key of the last item, so a
page is stable while new rows arrive (no OFFSET drift).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from api.ports import Page

#: Deployments, newest request first, from the ``deployment_summary`` view.
LIST_DEPLOYMENTS = """
SELECT * FROM deployment_summary
WHERE {where}
ORDER BY sort_at DESC, deployment_id DESC
LIMIT {{limit:UInt32}}
"""

#: Time span of the history and its size (for the listing's window).
DEPLOYMENT_TIME_SPAN = """
SELECT count() AS n, min(first_seen) AS lo,
       max(greatest(first_seen, ifNull(requested_at, first_seen))) AS hi
FROM deployments
"""

#: Deployments whose sort time may be >= w_lo: one with ``sort_at >= w_lo`` has a
#: ``deployments`` row with ``requested_at >= w_lo`` (its request) or, without a
#: request, only rows with ``first_seen >= w_lo``. The second clause cuts the rest.
IN_WINDOW = (
    "deployment_id IN (SELECT deployment_id FROM deployments WHERE "
    "requested_at >= {w_lo:DateTime64(3, 'UTC')} OR first_seen >= {w_lo:DateTime64(3, 'UTC')})"
    " AND sort_at >= {w_lo:DateTime64(3, 'UTC')}"
)

#: Timeline sources: (table, kind rank at equal event time, deployment filter).
TIMELINE_SOURCES: tuple[tuple[str, str], ...] = (
    (
        "deploy_events",
        "multiIf(type = 'deployment.requested', 0, type = 'deployment.started', 3,"
        " type = 'deployment.step', 4, 10)",
    ),
    ("predictions", "1"),
    ("decisions", "2"),
    ("kpi_windows", "5"),
    ("verdicts", "6"),
    ("overrides", "7"),
    ("rollbacks", "8"),
    ("actions", "9"),
    ("audit", "11"),
)


def timeline_sql() -> str:
    """Every record about one deployment, in event-time order (ties by kind, then id)."""
    parts = [
        f"SELECT occurred_at, toUInt8({rank}) AS rank, id, payload "
        f"FROM {table} FINAL WHERE deployment_id = {{d:String}}"
        for table, rank in TIMELINE_SOURCES
    ]
    union = "\nUNION ALL\n".join(parts)
    return (
        f"SELECT occurred_at, rank, id, payload FROM (\n{union}\n)\nORDER BY occurred_at, rank, id"
    )


LIST_AUDIT = """
SELECT occurred_at, id, payload FROM audit FINAL
WHERE {where}
ORDER BY occurred_at DESC, id DESC
LIMIT {{limit:UInt32}}
"""

LATEST_MODEL_METRICS = """
SELECT payload FROM model_metrics FINAL
WHERE model = {m:String}
ORDER BY occurred_at DESC, n DESC, id DESC
LIMIT 1
"""


def encode_cursor(at: datetime, key: str) -> str:
    """An opaque cursor for the keyset (time, id) of the last item of a page.

    >>> c = encode_cursor(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), "d-1")
    >>> decode_cursor(c)
    (datetime.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=datetime.timezone.utc), 'd-1')
    """
    raw = json.dumps([as_utc(at).isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Inverse of ``encode_cursor``; ``ValueError`` for anything that is not one.

    >>> decode_cursor("bm9wZQ")
    Traceback (most recent call last):
    ...
    ValueError: cursor: invalid
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, key = json.loads(raw)
        return as_utc(datetime.fromisoformat(at)), str(key)
    except Exception as exc:  # noqa: BLE001 - any malformed cursor is the caller's error
        raise ValueError("cursor: invalid") from exc


def as_utc(value: datetime) -> datetime:
    """ClickHouse returns naive datetimes for UTC columns; make them aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: Any) -> Any:
    """ISO-8601 (UTC, ``Z``-free offset form) for datetimes; other values unchanged."""
    return as_utc(value).isoformat() if isinstance(value, datetime) else value


_SUMMARY_FIELDS = (
    "deployment_id",
    "app",
    "environment",
    "version",
    "previous_version",
    "requested_at",
    "started_at",
    "finished_at",
    "strategy",
    "recommended_strategy",
    "p_failure",
    "status",
    "outcome",
    "finish_reason",
    "rollback_count",
    "last_verdict",
    "last_override",
)


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """A ``deployment_summary`` row as the API's JSON-able item."""
    out = {k: iso(row[k]) for k in _SUMMARY_FIELDS}
    out["rollback_count"] = int(row["rollback_count"])
    out["held"] = row["last_override"] == "hold"
    for key in (
        "previous_version",
        "recommended_strategy",
        "finish_reason",
        "last_verdict",
        "last_override",
        "strategy",
        "version",
    ):
        out[key] = out[key] or None
    return out


def page(rows: Sequence[dict[str, Any]], limit: int, item: Any, key: Any) -> Page:
    """``limit`` items (the query fetched one more to know if a next page exists)."""
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(*key(rows[-1])) if more and rows else None
    return Page(items=[item(r) for r in rows], next=nxt)
