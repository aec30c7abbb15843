"""What the API needs from the outside world, as small Protocols.

The composition root (``smartdeploy/``) injects the ClickHouse-backed history
reader and a Kafka publisher; tests inject in-memory fakes. Rows are plain
JSON-able dicts (timestamps as ISO-8601 strings).
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel


class Page(BaseModel):
    """One page of results and the opaque cursor of the next page (None at the end)."""

    items: list[dict[str, Any]]
    next: str | None = None


class HistoryReader(Protocol):
    """Read side of the history store (ClickHouse)."""

    def list_deployments(
        self,
        *,
        app: str | None = None,
        environment: str | None = None,
        outcome: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Deployments, newest request first. Each item has at least: deployment_id, app,
        environment, version, requested_at, strategy, p_failure, status (requested|started|
        succeeded|failed|rolled_back|aborted), outcome (None until finished), rollback_count."""
        ...

    def get_deployment(self, deployment_id: str) -> dict[str, Any] | None:
        """The deployment summary (as in the list) plus ``timeline``: every stored record
        about it (events, prediction, decision, kpi windows, verdicts, rollback commands,
        actions, overrides, audit), each a dict with ``type`` and ``occurred_at``, in
        event-time order."""
        ...

    def list_audit(
        self,
        *,
        subject: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Audit records, newest first."""
        ...

    def latest_model_metrics(self, model: str = "success") -> dict[str, Any] | None:
        """Most recent ModelMetrics record of a model, or None."""
        ...


class Publisher(Protocol):
    """Write side: publish one record to a topic (keyed), flushing before returning."""

    def publish(self, topic: str, key: str, record: BaseModel) -> None: ...


class PolicyStore(Protocol):
    """Where the active policy document lives (a YAML file in the embedded stack).

    ``read`` returns ``{"version": str, "text": str}`` — the document as written,
    so an admin sees comments and layout; ``write`` stores an already validated
    document and returns its new version string.
    """

    def read(self) -> dict[str, Any]: ...

    def write(self, text: str) -> str: ...
