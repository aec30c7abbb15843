"""History of everything smartdeploy saw and decided, in ClickHouse.

``HistoryStore`` (write: idempotent batched inserts; read: ``api.ports.HistoryReader``)
and ``HistoryWriter`` (Kafka topics -> store, at-least-once with backpressure).
"""

from smartdeploy.history.config import build_history_writer, history_topics
from smartdeploy.history.errors import HistoryError, HistoryRejected, HistoryUnavailable
from smartdeploy.history.store import HistoryStore
from smartdeploy.history.writer import HistoryWriter

__all__ = [
    "HistoryError",
    "HistoryRejected",
    "HistoryStore",
    "HistoryUnavailable",
    "HistoryWriter",
    "build_history_writer",
    "history_topics",
]
