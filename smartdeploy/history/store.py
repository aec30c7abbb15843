"""``HistoryStore``: ClickHouse-backed history (chdb embedded or a server over HTTP).

One object serves both the history writer (``insert``) and the API (the
``api.ports.HistoryReader`` methods) inside a single process, because an
embedded chdb path can be opened by one process only. The chdb client is
synchronous and not thread-safe, so every call goes through one lock.

The connection is opened lazily and dropped after a connection-level failure,
so a ClickHouse server that is down at start or restarts later is picked up
again on the next call; ``insert`` raises while it is unreachable and the writer
retries with backoff.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DataError
from pydantic import BaseModel

from api.ports import Page
from smartdeploy.history import queries as q
from smartdeploy.history.errors import HistoryRejected, HistoryUnavailable
from smartdeploy.history.migrations import apply_retention, migrate
from smartdeploy.history.rows import dedup_token, group_rows

log = logging.getLogger(__name__)

DEFAULT_TTL_DAYS = {"kpi_windows": 90, "metric_samples": 7}


class HistoryStore:
    """History in ClickHouse: idempotent batched inserts and the API's read queries."""

    def __init__(
        self,
        dsn: str,
        *,
        ttl_days: dict[str, int] | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self._ttl = {**DEFAULT_TTL_DAYS, **(ttl_days or {})}
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.RLock()
        self._client: Any = None
        self.inserted_rows = 0

    @classmethod
    def from_settings(cls, settings: Any) -> HistoryStore:
        """The store as configured (DSN and retention) by ``Settings``."""
        return cls(
            settings.resolved_clickhouse_dsn(),
            ttl_days={
                "kpi_windows": settings.history_kpi_ttl_days,
                "metric_samples": settings.history_metrics_ttl_days,
            },
        )

    # -- connection --------------------------------------------------------------
    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            if self.dsn.startswith("chdb://"):
                client = clickhouse_connect.get_client(dsn=self.dsn)
            else:
                client = clickhouse_connect.get_client(
                    dsn=self.dsn,
                    connect_timeout=max(1, round(self._connect_timeout_s)),
                    send_receive_timeout=60,
                    autogenerate_session_id=False,
                )
            migrate(client)
            apply_retention(client, self._ttl)
        except Exception as exc:
            raise HistoryUnavailable(f"clickhouse: cannot open {self._safe_dsn()}: {exc}") from exc
        self._client = client
        return client

    def _safe_dsn(self) -> str:
        if "@" in self.dsn and "://" in self.dsn:
            scheme, rest = self.dsn.split("://", 1)
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return self.dsn

    def _call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """Run one client call under the lock; reconnect next time after a failure."""
        with self._lock:
            client = self._connect()
            try:
                return getattr(client, fn)(*args, **kwargs)
            except DataError as exc:  # client-side: a value does not fit its column
                raise HistoryRejected(f"clickhouse: {fn} rejected the data: {exc}") from exc
            except Exception as exc:
                if not self.dsn.startswith("chdb://"):
                    self._drop_client()
                raise HistoryUnavailable(f"clickhouse: {fn} failed: {exc}") from exc

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail too
                log.debug("closing clickhouse client failed", exc_info=True)

    def open(self) -> HistoryStore:
        """Connect and migrate now (instead of at the first call); raises if unavailable."""
        with self._lock:
            self._connect()
        return self

    def ping(self) -> bool:
        """True when ClickHouse answers (for readiness endpoints); never raises."""
        try:
            return bool(self._call("command", "SELECT 1"))
        except HistoryUnavailable:
            return False

    def close(self) -> None:
        with self._lock:
            self._drop_client()

    def migrate(self) -> list[int]:
        """Apply pending migrations (no-op when up to date); returns versions applied."""
        with self._lock:
            return migrate(self._connect())

    # -- write side --------------------------------------------------------------
    def insert(self, records: Iterable[BaseModel]) -> int:
        """Insert records, one batched insert per table; returns rows sent.

        Idempotent: a record whose id is already stored is collapsed by the table
        engine, and a retried identical batch is dropped by its dedup token.
        """
        tables = group_rows(records)
        sent = 0
        for table, rows in tables.items():
            if not rows:
                continue
            columns = list(rows[0].keys())
            data = [[row[c] for c in columns] for row in rows]
            self._call(
                "insert",
                table,
                data,
                column_names=columns,
                settings={"insert_deduplication_token": dedup_token(table, rows)},
            )
            sent += len(rows)
        self.inserted_rows += sent
        return sent

    # -- read side (api.ports.HistoryReader) --------------------------------------
    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a read query; rows as dicts (used by the readers, Grafana tests, CLI)."""
        result = self._call("query", sql, parameters=parameters or {})
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def query_result(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """The raw clickhouse-connect ``QueryResult`` (column names and types too)."""
        return self._call("query", sql, parameters=parameters or {})

    def list_deployments(
        self,
        *,
        app: str | None = None,
        environment: str | None = None,
        outcome: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        params: dict[str, Any] = {"limit": max(1, min(int(limit), 1000)) + 1}
        where = ["1"]
        if app:
            params["app"] = app
            where.append("app = {app:String}")
        if environment:
            params["env"] = environment
            where.append("environment = {env:String}")
        if outcome:
            params["outcome"] = outcome
            where.append("status = {outcome:String}")
        if cursor:
            at, key = q.decode_cursor(cursor)
            params["c_at"], params["c_id"] = at, key
            where.append(
                "(sort_at < {c_at:DateTime64(3, 'UTC')} OR "
                "(sort_at = {c_at:DateTime64(3, 'UTC')} AND deployment_id < {c_id:String}))"
            )
        rows = self._newest_deployments(where, params)
        return q.page(
            rows, params["limit"] - 1, q.summary, lambda r: (r["sort_at"], r["deployment_id"])
        )

    def _newest_deployments(self, where: list[str], params: dict[str, Any]) -> list[dict[str, Any]]:
        """The first ``limit`` rows of the listing, reading only a recent time window.

        Aggregating every deployment for each page would grow with the history, so
        the query first looks at deployments with activity in the last day before
        the page's start, widening the window (at least eightfold, more when few rows
        matched) until the page is full or the window covers everything. Exact: every
        deployment whose sort time is in the window has a ``deployments`` row in it
        (see ``queries.IN_WINDOW``).
        """
        span = self.query(q.DEPLOYMENT_TIME_SPAN)[0]
        if not span["n"]:
            return []
        top = min(q.as_utc(span["hi"]), params.get("c_at") or q.as_utc(span["hi"]))
        window = timedelta(days=1)
        while top - window > q.as_utc(span["lo"]):
            sql = q.LIST_DEPLOYMENTS.format(where=" AND ".join([*where, q.IN_WINDOW]))
            rows = self.query(sql, {**params, "w_lo": top - window})
            if len(rows) >= params["limit"]:
                return rows
            # widen by the density seen so far (selective filters jump further)
            window *= max(8, 2 * params["limit"] // max(len(rows), 1))
        return self.query(q.LIST_DEPLOYMENTS.format(where=" AND ".join(where)), params)

    def get_deployment(self, deployment_id: str) -> dict[str, Any] | None:
        sql = q.LIST_DEPLOYMENTS.format(where="deployment_id = {d:String}")
        rows = self.query(sql, {"d": deployment_id, "limit": 1})
        if not rows:
            return None
        summary = q.summary(rows[0])
        timeline = self.query(q.timeline_sql(), {"d": deployment_id})
        summary["timeline"] = [json.loads(r["payload"]) for r in timeline]
        return summary

    def list_audit(
        self,
        *,
        subject: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        params: dict[str, Any] = {"limit": max(1, min(int(limit), 1000)) + 1}
        where = ["1"]
        for name, value in (("subject", subject), ("actor", actor), ("action", action)):
            if value:
                params[name] = value
                where.append(f"{name} = {{{name}:String}}")
        if cursor:
            at, key = q.decode_cursor(cursor)
            params["c_at"], params["c_id"] = at, key
            where.append(
                "(occurred_at < {c_at:DateTime64(3, 'UTC')} OR "
                "(occurred_at = {c_at:DateTime64(3, 'UTC')} AND id < {c_id:String}))"
            )
        rows = self.query(q.LIST_AUDIT.format(where=" AND ".join(where)), params)
        return q.page(
            rows,
            params["limit"] - 1,
            lambda r: json.loads(r["payload"]),
            lambda r: (r["occurred_at"], r["id"]),
        )

    def latest_model_metrics(self, model: str = "success") -> dict[str, Any] | None:
        rows = self.query(q.LATEST_MODEL_METRICS, {"m": model})
        return json.loads(rows[0]["payload"]) if rows else None
