"""Map CDEvents (CloudEvents JSON, spec 0.3.0 service events) onto our deploy events.

``service.deployed`` / ``service.upgraded`` announce a version reaching an
environment: we treat them as a ``DeploymentRequested``. ``service.rolledback``
is an outcome: ``DeploymentFinished(outcome="rolled_back")``.
"""

from __future__ import annotations

from typing import Any

from schemas.deploy import DeploymentFinished, DeploymentRequested

CDEVENT_TYPES = {
    "dev.cdevents.service.deployed.0.3.0": "deployed",
    "dev.cdevents.service.upgraded.0.3.0": "upgraded",
    "dev.cdevents.service.rolledback.0.3.0": "rolledback",
}


def is_cdevent(doc: dict[str, Any]) -> bool:
    """True for a CDEvent in either the structured CloudEvent or the CDEvents-native form.

    >>> is_cdevent({"context": {"type": "dev.cdevents.service.deployed.0.3.0"}})
    True
    >>> is_cdevent({"type": "deployment.requested"})
    False
    """
    return _event_type(doc) in CDEVENT_TYPES


def _event_type(doc: dict[str, Any]) -> str:
    ctx = doc.get("context")
    if isinstance(ctx, dict) and isinstance(ctx.get("type"), str):
        return str(ctx["type"])
    value = doc.get("type")
    return value if isinstance(value, str) else ""


def _version_from_artifact(artifact_id: str) -> str:
    """``pkg:oci/myapp@sha256:abc?tag=1.2`` → ``1.2``; ``pkg:x/app@1.4.0`` → ``1.4.0``.

    >>> _version_from_artifact("pkg:oci/web@sha256:0a1b?repository_url=r/web&tag=v2")
    'v2'
    >>> _version_from_artifact("pkg:golang/api@1.4.0")
    '1.4.0'
    """
    if "tag=" in artifact_id:
        return artifact_id.split("tag=", 1)[1].split("&", 1)[0]
    if "@" in artifact_id:
        return artifact_id.rsplit("@", 1)[1].split("?", 1)[0]
    return artifact_id or "unknown"


def from_cdevent(doc: dict[str, Any]) -> DeploymentRequested | DeploymentFinished:
    """Translate a CDEvent document; raises ``ValueError`` naming the missing field."""
    kind = CDEVENT_TYPES.get(_event_type(doc))
    if kind is None:
        raise ValueError(f"type: unsupported CDEvent type {_event_type(doc)!r}")
    ctx = doc.get("context") if isinstance(doc.get("context"), dict) else doc
    subject = doc.get("subject")
    if not isinstance(subject, dict):
        data = doc.get("data")
        subject = data.get("subject") if isinstance(data, dict) else None
    if not isinstance(subject, dict):
        raise ValueError("subject: missing")
    raw_content = subject.get("content")
    content: dict[str, Any] = raw_content if isinstance(raw_content, dict) else {}
    app = str(subject.get("id") or "")
    if not app:
        raise ValueError("subject.id: missing service name")
    env = content.get("environment") or {}
    environment = str(env.get("id") or "production") if isinstance(env, dict) else str(env)
    assert isinstance(ctx, dict)
    event_id = str(ctx.get("id") or "")
    when = ctx.get("timestamp") or ctx.get("time")
    if not event_id:
        raise ValueError("context.id: missing")
    if not when:
        raise ValueError("context.timestamp: missing")
    raw_custom = doc.get("customData")
    custom: dict[str, Any] = raw_custom if isinstance(raw_custom, dict) else {}
    deployment_id = str(custom.get("deployment_id") or f"{app}-{event_id}")
    if kind == "rolledback":
        return DeploymentFinished(
            id=event_id,
            occurred_at=when,
            deployment_id=deployment_id,
            app=app,
            environment=environment,
            outcome="rolled_back",
            reason="cdevents rolledback",
        )
    version = _version_from_artifact(str(content.get("artifactId") or ""))
    extra = {k: v for k, v in custom.items() if k != "deployment_id"}
    return DeploymentRequested.model_validate(
        {
            **extra,
            "id": event_id,
            "occurred_at": when,
            "deployment_id": deployment_id,
            "app": app,
            "environment": environment,
            "version": version,
            "labels": {"source": str(ctx.get("source") or "cdevents"), "cdevent": kind},
        }
    )
