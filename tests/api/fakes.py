"""In-memory stand-ins for the API's ports: a history store fed with records, a publisher.

``FakeHistory`` derives deployment summaries from the records it holds the way
the real store does (newest request first, status from the lifecycle), so tests
exercise the API's behaviour rather than canned answers.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from pydantic import BaseModel

from api.live import InMemoryLiveFeed
from api.ports import Page


def _page(items: list[dict[str, Any]], limit: int, cursor: str | None) -> Page:
    start = 0
    if cursor is not None:
        if not cursor.startswith("o:") or not cursor[2:].isdigit():
            raise ValueError("cursor: invalid")
        start = int(cursor[2:])
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return Page(items=chunk, next=f"o:{start + limit}" if more else None)


class FakeHistory:
    """Records by deployment, in arrival order (tests feed them in event-time order)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.fail: Exception | None = None

    def add(self, record: BaseModel | dict[str, Any]) -> None:
        doc = record.model_dump(mode="json") if isinstance(record, BaseModel) else dict(record)
        with self.lock:
            self.records.append(doc)

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    def _summary(self, dep_id: str, recs: list[dict[str, Any]]) -> dict[str, Any]:
        req = next((r for r in recs if r["type"] == "deployment.requested"), {})
        started = next((r for r in recs if r["type"] == "deployment.started"), None)
        fin = next((r for r in reversed(recs) if r["type"] == "deployment.finished"), None)
        pred = next((r for r in reversed(recs) if r["type"] == "prediction"), None)
        dec = next((r for r in reversed(recs) if r["type"] == "strategy.decision"), None)
        outcome = fin["outcome"] if fin else None
        return {
            "deployment_id": dep_id,
            "app": req.get("app") or recs[0].get("app", ""),
            "environment": req.get("environment"),
            "version": req.get("version"),
            "requested_at": req.get("occurred_at") or recs[0]["occurred_at"],
            "strategy": (started or {}).get("strategy") or (dec or {}).get("strategy"),
            "p_failure": pred["p_failure"] if pred else None,
            "status": outcome or ("started" if started else "requested"),
            "outcome": outcome,
            "rollback_count": sum(r["type"] == "rollback.command" for r in recs),
        }

    def _by_deployment(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        with self.lock:
            for rec in self.records:
                dep = rec.get("deployment_id")
                if dep is None and rec.get("type") == "audit":
                    subject = str(rec.get("subject", ""))
                    dep = subject.split("/", 1)[1] if subject.startswith("deployment/") else None
                if dep:
                    out.setdefault(str(dep), []).append(rec)
        return out

    def list_deployments(
        self,
        *,
        app: str | None = None,
        environment: str | None = None,
        outcome: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        self._check()
        rows = [self._summary(d, r) for d, r in self._by_deployment().items()]
        rows = [
            r
            for r in rows
            if (app is None or r["app"] == app)
            and (environment is None or r["environment"] == environment)
            and (outcome is None or r["outcome"] == outcome)
        ]
        rows.sort(key=lambda r: (r["requested_at"], r["deployment_id"]), reverse=True)
        return _page(rows, limit, cursor)

    def get_deployment(self, deployment_id: str) -> dict[str, Any] | None:
        self._check()
        recs = self._by_deployment().get(deployment_id)
        if not recs:
            return None
        timeline = sorted(recs, key=lambda r: r["occurred_at"])
        return {**self._summary(deployment_id, recs), "timeline": timeline}

    def list_audit(
        self,
        *,
        subject: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        self._check()
        with self.lock:
            rows = [r for r in self.records if r.get("type") == "audit"]
        rows = [
            r
            for r in rows
            if (subject is None or r["subject"] == subject)
            and (actor is None or r["actor"] == actor)
            and (action is None or r["action"] == action)
        ]
        rows.reverse()
        return _page(rows, limit, cursor)

    def latest_model_metrics(self, model: str = "success") -> dict[str, Any] | None:
        self._check()
        with self.lock:
            rows = [
                r
                for r in self.records
                if r.get("type") == "model.metrics" and r.get("model") == model
            ]
        return rows[-1] if rows else None


class FakePublisher:
    """Remembers what was published; optionally forwards it to a store and a live feed."""

    def __init__(
        self, history: FakeHistory | None = None, live: InMemoryLiveFeed | None = None
    ) -> None:
        self.sent: list[tuple[str, str, BaseModel]] = []
        self.history = history
        self.live = live
        self.fail: Exception | None = None

    def publish(self, topic: str, key: str, record: BaseModel) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic, key, record))
        if self.history is not None:
            self.history.add(record)
        if self.live is not None:
            self.live.publish(record.model_dump(mode="json"))


class MemoryPolicyStore:
    def __init__(self, text: str = "") -> None:
        self.text = text
        self.writes = 0

    def read(self) -> dict[str, Any]:
        return {"version": hashlib.sha256(self.text.encode()).hexdigest()[:12], "text": self.text}

    def write(self, text: str) -> str:
        self.text = text
        self.writes += 1
        return hashlib.sha256(text.encode()).hexdigest()[:12]
