"""Prometheus remote-write ingest: ``POST /api/v1/write`` → MetricBatch messages on Kafka.

Public interface: ``build_ingest_router(IngestConfig(...), producer)``; the
composition root builds both from Settings in ``smartdeploy/wire_ingest.py``.
"""

from api.ingest.config import IngestConfig
from api.ingest.decode import LabelMap
from api.ingest.router import IngestStats, build_ingest_router

__all__ = ["IngestConfig", "IngestStats", "LabelMap", "build_ingest_router"]
