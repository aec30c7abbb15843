"""The real ``kubernetes`` client, thinly wrapped: raw JSON in, errors classified.

Reads use ``_preload_content=False`` and parse the body as plain dicts, so the
pod template we patch back is byte-for-byte what the API server holds (no
round-trip through generated model classes that could drop fields). Every patch
names its content type explicitly; this client version otherwise defaults to
``application/json-patch+json`` whatever the body is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from executor.backend import TransientError, is_retryable
from executor.config import KubeConfig

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    """A failure no retry will fix (403, 404, 422 ...)."""

    def __init__(self, status: int | None, detail: str):
        super().__init__(f"{status}: {detail}")
        self.status = status


def api_client(cfg: KubeConfig) -> k8s.ApiClient:
    """An ApiClient for ``cfg``: explicit host, in-cluster, or kubeconfig (+ context)."""
    if cfg.host:
        conf = k8s.Configuration()
        conf.host = cfg.host
        return k8s.ApiClient(conf)
    conf = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=conf)
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(
            config_file=str(cfg.kubeconfig) if cfg.kubeconfig else None,
            context=cfg.context,
            client_configuration=conf,
        )
    return k8s.ApiClient(conf)


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    raw = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def call(fn: Callable[..., Any], *args: Any, timeout: float = 10.0, **kwargs: Any) -> Any:
    """Call a generated API method; return parsed JSON; classify failures.

    Retryable statuses become :class:`TransientError`, the rest :class:`KubeError`.
    """
    try:
        resp = fn(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
    except ApiException as exc:
        detail = _status_message(exc.body) or str(exc.reason)
        if is_retryable(exc.status):
            raise TransientError(exc.status, detail, _retry_after(exc)) from exc
        raise KubeError(exc.status, detail) from exc
    except HTTPError as exc:  # connection refused / reset / timeout
        raise TransientError(None, f"{type(exc).__name__}: {exc}") from exc
    return json.loads(resp.data or b"{}")


def _status_message(body: str | None) -> str:
    """The ``message`` of a Kubernetes ``Status`` error body, if there is one."""
    if not body:
        return ""
    try:
        return str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        return body[:200]


def label_selector(selector: dict[str, Any] | None) -> str:
    """``spec.selector`` (matchLabels only) as a list-query label selector.

    >>> label_selector({"matchLabels": {"app": "web", "tier": "x"}})
    'app=web,tier=x'
    """
    labels = (selector or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def ref(kind: str, namespace: str, name: str, **extra: Any) -> dict[str, Any]:
    """An ``operations`` entry for an ActionResult."""
    return {"kind": kind, "namespace": namespace, "name": name, **extra}
