"""Versioned ClickHouse schema of the history store.

Every migration is applied once and recorded in ``schema_migrations``; running
``migrate`` again is a no-op, so every process (history writer, API) can call it
at start. The SQL is plain ClickHouse (no chdb-only function) so the same
statements run on embedded chdb and on a ClickHouse server over HTTP.

Why these engines:

* Record tables are ``ReplacingMergeTree`` ordered by a key that ends in the
  record ``id``: a re-delivered record collapses into the first one, and queries
  read with ``FINAL`` so duplicates are invisible even before a merge. Inserts
  also carry a deduplication token (``non_replicated_deduplication_window``) so a
  retried batch is dropped at insert time.
* ``deployments`` is an ``AggregatingMergeTree`` fed by materialized views from
  the record tables. Every column is an idempotent aggregate (min, max, argMax,
  uniqExact of ids), so a duplicate record never changes a deployment's state:
  the rollback count is the number of distinct rollback command ids.
* Partitions are monthly on event time; retention (TTL) of the raw tables
  (``kpi_windows``, ``metric_samples``) is applied by ``apply_retention``.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from smartdeploy.history import schema as sql


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "record tables", sql.RECORD_TABLES),
    Migration(2, "deployments state", (sql.DEPLOYMENTS, sql.DEPLOY_EVENTS_MV, *sql.FEEDS)),
    Migration(3, "raw metric samples", (sql.METRIC_SAMPLES,)),
    Migration(4, "deployment summary view", (sql.DEPLOYMENT_SUMMARY_VIEW,)),
)

#: Tables whose rows expire (``apply_retention``): table -> column the TTL counts from.
RETENTION_TABLES = {"kpi_windows": "inserted_at", "metric_samples": "inserted_at"}


_MIGRATIONS_TABLE = f"""CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at {sql.TS}
)
ENGINE = ReplacingMergeTree
ORDER BY version"""


def applied_versions(client: Client) -> set[int]:
    client.command(_MIGRATIONS_TABLE)
    result = client.query("SELECT version FROM schema_migrations FINAL")
    return {int(row[0]) for row in result.result_rows}


def migrate(client: Client, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply pending migrations in version order; return the versions applied now."""
    done = applied_versions(client)
    applied: list[int] = []
    for m in sorted(migrations, key=lambda m: m.version):
        if m.version in done:
            continue
        for statement in m.statements:
            client.command(statement)
        client.command(
            "INSERT INTO schema_migrations (version, name, applied_at) "
            f"VALUES ({int(m.version)}, '{m.name.replace(chr(39), '')}', now64(3))"
        )
        applied.append(m.version)
    return applied


def apply_retention(client: Client, ttl_days: dict[str, int]) -> list[str]:
    """Set (or remove, for 0 days) the TTL of raw tables; only ALTER when it changes.

    Rows expire ``days`` after they were recorded (``inserted_at``), so replaying an
    old recorded stream does not make its windows vanish at the next merge.
    """
    changed: list[str] = []
    for table, days in ttl_days.items():
        column = RETENTION_TABLES[table]
        result = client.query(
            "SELECT create_table_query FROM system.tables "
            "WHERE database = currentDatabase() AND name = {t:String}",
            parameters={"t": table},
        )
        rows = result.result_rows
        ddl = str(rows[0][0]) if rows else ""
        has_ttl = "\nTTL " in ddl or " TTL " in ddl
        want = f"toIntervalDay({int(days)})"
        if days > 0 and want not in ddl:
            client.command(f"ALTER TABLE {table} MODIFY TTL {column} + INTERVAL {int(days)} DAY")
            changed.append(table)
        elif days <= 0 and has_ttl:
            client.command(f"ALTER TABLE {table} REMOVE TTL")
            changed.append(table)
    return changed
