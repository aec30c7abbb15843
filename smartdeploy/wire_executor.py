"""Composition of the executor from the one Settings object.

``executor/`` knows nothing of Settings (it imports schemas only); this module
translates Settings into ``ExecutorConfig``, picks the backend and builds the loop
that ``smartdeploy up`` runs in a thread and ``smartdeploy executor`` runs alone.
"""

from __future__ import annotations

from executor.alerts import Alerter, NoAlerter, WebhookAlerter
from executor.backend import Backend, ByTargetKind
from executor.config import ExecutorConfig, KubeConfig, RetryPolicy, WebhookConfig
from executor.core import Executor
from executor.dry_run import DryRunBackend
from executor.ledger import Ledger
from executor.loop import ExecutorLoop
from smartdeploy.settings import Settings


def executor_config(settings: Settings, bootstrap: str | None = None) -> ExecutorConfig:
    """``ExecutorConfig`` from Settings; ``bootstrap`` overrides (embedded broker)."""
    kafka = dict(settings.kafka_config())
    if bootstrap:
        kafka["bootstrap.servers"] = bootstrap
    webhook = None
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        webhook = WebhookConfig(url=settings.webhook_url, secret=secret)
    backend = settings.executor_backend
    kube_configured = settings.kube_context or settings.kube_config or settings.kube_host
    if "executor_backend" not in settings.model_fields_set and kube_configured:
        backend = "kubernetes"  # DESIGN §4: dry-run unless a kube context is configured
    return ExecutorConfig(
        kafka=kafka,
        group_id=settings.executor_group_id,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        state_dir=settings.executor_state_dir or settings.data_dir / "executor",
        backend=backend,
        retry=RetryPolicy(
            max_attempts=settings.executor_max_attempts,
            base_s=settings.executor_backoff_base_s,
            cap_s=settings.executor_backoff_max_s,
        ),
        kube=KubeConfig(
            host=settings.kube_host,
            kubeconfig=settings.kube_config,
            context=settings.kube_context,
            version_label=settings.executor_version_label,
            argo_undo_when_promoted=settings.executor_argo_undo_when_promoted,
        ),
        webhook=webhook,
        alert_url=settings.alert_webhook_url,
    )


def build_backend(cfg: ExecutorConfig) -> Backend:
    """The configured backend; kubernetes and argo both route on ``target.kind``."""
    if cfg.backend == "dry_run":
        return DryRunBackend()
    if cfg.backend == "webhook":
        if cfg.webhook is None:
            raise ValueError("executor_backend=webhook needs SMARTDEPLOY_WEBHOOK_URL")
        from executor.webhook import WebhookBackend

        return WebhookBackend(cfg.webhook)
    if cfg.backend in ("kubernetes", "argo"):
        from executor.argo import ArgoRolloutBackend
        from executor.k8s_deployment import DeploymentBackend
        from executor.kube import api_client

        api = api_client(cfg.kube)
        return ByTargetKind(
            {
                "deployment": DeploymentBackend(api, cfg.kube),
                "argo_rollout": ArgoRolloutBackend(api, cfg.kube),
            }
        )
    raise ValueError(f"unknown executor backend {cfg.backend!r}")


def build_executor(settings: Settings, bootstrap: str | None = None) -> ExecutorLoop:
    """The executor loop for ``settings`` (call ``.run(stop_event)`` to run it)."""
    cfg = executor_config(settings, bootstrap)
    alerter: Alerter = WebhookAlerter(cfg.alert_url) if cfg.alert_url else NoAlerter()
    executor = Executor(build_backend(cfg), Ledger(cfg.state_dir), cfg.retry, alerter)
    return ExecutorLoop(cfg, executor)
