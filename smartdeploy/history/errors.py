"""Failures of the history store, split by what the writer must do about them.

* ``HistoryUnavailable``: ClickHouse cannot be reached or failed the request; retry
  later with the same records (nothing is lost, inserts are idempotent).
* ``HistoryRejected``: a record cannot be stored at all (e.g. a number out of its
  column's range); retrying would stall the writer forever, so the writer isolates
  the record, logs why, and moves on.
"""

from __future__ import annotations


class HistoryError(RuntimeError):
    """Any failure of the history store."""


class HistoryUnavailable(HistoryError):
    """ClickHouse could not be reached or refused the operation."""


class HistoryRejected(HistoryError):
    """The data of a batch cannot be serialized into its table's columns."""
