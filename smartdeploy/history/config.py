"""The history writer as configured by ``Settings`` (``SMARTDEPLOY_HISTORY_*``)."""

from __future__ import annotations

from typing import Any

from schemas import topics
from smartdeploy.history.writer import HistoryWriter, RecordSink


def history_topics(include_metrics: bool = False) -> list[str]:
    """Every topic the history stores: all but the DLQ, and raw metrics only on request.

    >>> "smartdeploy.metrics" in history_topics(), "smartdeploy.metrics" in history_topics(True)
    (False, True)
    """
    skip = {topics.DLQ} | (set() if include_metrics else {topics.METRICS})
    return [t for t in topics.ALL_TOPICS if t not in skip]


def build_history_writer(settings: Any, store: RecordSink) -> HistoryWriter:
    """The writer as configured by ``Settings`` (``SMARTDEPLOY_HISTORY_*``)."""
    conf: dict[str, Any] = {
        **settings.kafka_config(),
        "group.id": settings.history_group_id,
        "session.timeout.ms": settings.kafka_session_timeout_ms,
    }
    return HistoryWriter(
        store,
        conf,
        history_topics(settings.history_store_metrics),
        batch_size=settings.history_batch_size,
        flush_interval_s=settings.history_flush_interval_s,
        max_buffer=settings.history_buffer_max,
        backoff_max_s=settings.history_retry_max_s,
        heartbeat_file=settings.history_heartbeat_file,
    )
