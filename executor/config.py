"""Configuration of the executor as plain dataclasses.

The executor imports ``schemas`` only, so it does not read ``smartdeploy.settings``;
``smartdeploy.wire_executor`` translates the one Settings object into these.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas import topics


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter (AWS architecture blog style).

    Attempt ``n`` (1-based) that failed transiently waits a uniform random time in
    ``[0, min(cap_s, base_s * 2**(n-1))]`` before attempt ``n+1``; after
    ``max_attempts`` attempts the command is recorded ``failed``.

    >>> p = RetryPolicy(max_attempts=3, base_s=0.5, cap_s=1.0)
    >>> [p.ceiling(n) for n in (1, 2, 3, 4)]
    [0.5, 1.0, 1.0, 1.0]
    >>> 0.0 <= p.delay(2, random.Random(1)) <= 1.0
    True
    """

    max_attempts: int = 5
    base_s: float = 0.2
    cap_s: float = 10.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay after failed attempt ``attempt``."""
        return min(self.cap_s, self.base_s * (2 ** (attempt - 1)))

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Jittered delay after ``attempt``; a server's ``Retry-After`` is a floor."""
        jittered = rng.uniform(0.0, self.ceiling(attempt))
        if retry_after is not None:
            return max(jittered, min(retry_after, self.cap_s))
        return jittered


@dataclass(frozen=True)
class KubeConfig:
    """How to reach the Kubernetes API (the real ``kubernetes`` client is used).

    ``host`` set = talk to that URL without credentials (tests, ``kubectl proxy``);
    otherwise in-cluster config when running in a pod, else the kubeconfig file.
    """

    host: str | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    request_timeout_s: float = 10.0
    #: pod-template label naming the version (blue/green selectors, version checks)
    version_label: str = "version"
    #: Argo Rollouts: on a fully promoted Rollout, abort cannot revert; undo instead.
    argo_undo_when_promoted: bool = True


@dataclass(frozen=True)
class WebhookConfig:
    """Where the webhook backend POSTs commands and the HMAC secret it signs with."""

    url: str
    secret: str
    timeout_s: float = 10.0


@dataclass(frozen=True)
class ExecutorConfig:
    """Everything the executor loop needs; built by ``smartdeploy.wire_executor``."""

    kafka: dict[str, Any] = field(default_factory=dict)
    rollbacks_topic: str = topics.ROLLBACKS
    overrides_topic: str = topics.OVERRIDES
    actions_topic: str = topics.ACTIONS
    audit_topic: str = topics.AUDIT
    dlq_topic: str = topics.DLQ
    group_id: str = "smartdeploy-executor"
    session_timeout_ms: int = 10_000
    batch_size: int = 100
    poll_timeout_s: float = 0.5
    state_dir: Path = Path("var/executor")
    backend: str = "dry_run"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    kube: KubeConfig = field(default_factory=KubeConfig)
    webhook: WebhookConfig | None = None
    alert_url: str | None = None
