"""Pure pieces of the history: record -> row routing, in-batch dedup, cursors."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from schemas import ALL_MODELS, DeadLetter, MetricBatch
from smartdeploy.history import HistoryStore
from smartdeploy.history.queries import decode_cursor, encode_cursor
from smartdeploy.history.rows import ROUTES, dedup_token, group_rows
from tests.history.factory import T0, lifecycle, override_and_audit

RECORDS = lifecycle("r1", rollback=True) + override_and_audit("r1", T0)


def test_every_schema_model_has_a_history_table() -> None:
    # Dead letters stay on smartdeploy.dlq (raw rejected inputs, re-sent once fixed);
    # raw metric batches go to metric_samples only when history_store_metrics is on.
    assert set(ALL_MODELS.values()) == set(ROUTES) | {MetricBatch, DeadLetter}


@given(st.lists(st.sampled_from(range(len(RECORDS))), min_size=1, max_size=60))
def test_a_batch_with_repeats_yields_one_row_per_record_id(picks: list[int]) -> None:
    batch = [RECORDS[i] for i in picks]
    tables = group_rows(batch)
    ids = [row["id"] for rows in tables.values() for row in rows]
    assert sorted(ids) == sorted({RECORDS[i].id for i in picks})  # type: ignore[attr-defined]


@given(st.lists(st.sampled_from(range(len(RECORDS))), min_size=2, max_size=20, unique=True))
def test_the_dedup_token_names_exactly_the_batch(picks: list[int]) -> None:
    rows = group_rows([RECORDS[i] for i in picks])
    for table, table_rows in rows.items():
        again = group_rows([RECORDS[i] for i in picks])[table]
        assert dedup_token(table, table_rows) == dedup_token(table, again)
        if len(table_rows) > 1:
            assert dedup_token(table, table_rows) != dedup_token(table, table_rows[1:])


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    st.text(min_size=0, max_size=40),
)
def test_cursors_round_trip(at: datetime, key: str) -> None:
    assert decode_cursor(encode_cursor(at, key)) == (at, key)


def test_row_columns_exist_in_their_tables(store: HistoryStore) -> None:
    rows = group_rows(
        [
            *RECORDS,
            MetricBatch(
                occurred_at=RECORDS[0].occurred_at,  # type: ignore[attr-defined]
                app="web",
            ),
        ]
    )
    for table, table_rows in rows.items():
        columns = {
            r["name"]
            for r in store.query(
                "SELECT name FROM system.columns WHERE database = currentDatabase() "
                "AND table = {t:String}",
                {"t": table},
            )
        }
        for row in table_rows:
            assert set(row) <= columns, (table, set(row) - columns)
