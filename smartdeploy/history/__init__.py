"""History of everything smartdeploy saw and decided, in ClickHouse.

``HistoryStore`` (write: idempotent batched inserts; read: ``api.ports.HistoryReader``)
and ``HistoryWriter`` (Kafka topics -> store, at-least-once with backpressure).
"""

from smartdeploy.history.store import HistoryStore, HistoryUnavailable
from smartdeploy.history.writer import HistoryWriter, build_history_writer, history_topics

__all__ = [
    "HistoryStore",
    "HistoryUnavailable",
    "HistoryWriter",
    "build_history_writer",
    "history_topics",
]
