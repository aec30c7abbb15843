"""build_executor turns Settings into the right loop and backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.backend import ByTargetKind
from executor.dry_run import DryRunBackend
from executor.webhook import WebhookBackend
from smartdeploy.settings import Settings
from smartdeploy.wire_executor import build_executor, executor_config


def test_default_is_dry_run_with_state_under_data_dir(tmp_path: Path) -> None:
    loop = build_executor(Settings(data_dir=tmp_path), bootstrap="127.0.0.1:1")
    loop.executor.ledger.close()
    assert isinstance(loop.executor.backend, DryRunBackend)
    assert loop.cfg.kafka["bootstrap.servers"] == "127.0.0.1:1"
    assert loop.executor.ledger.path == tmp_path / "executor" / "executed.jsonl"


def test_a_configured_cluster_switches_the_default_to_kubernetes(tmp_path: Path) -> None:
    loop = build_executor(Settings(data_dir=tmp_path, kube_host="http://127.0.0.1:8001"))
    assert isinstance(loop.executor.backend, ByTargetKind)
    explicit = Settings(data_dir=tmp_path, kube_host="http://x", executor_backend="dry_run")
    assert executor_config(explicit).backend == "dry_run"


def test_webhook_backend_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="WEBHOOK_URL"):
        build_executor(Settings(data_dir=tmp_path, executor_backend="webhook"))
    loop = build_executor(
        Settings(
            data_dir=tmp_path / "w",
            executor_backend="webhook",
            webhook_url="http://127.0.0.1:9/x",
            webhook_secret="s",
        )
    )
    assert isinstance(loop.executor.backend, WebhookBackend)


def test_retry_settings_reach_the_policy(tmp_path: Path) -> None:
    cfg = executor_config(
        Settings(
            data_dir=tmp_path,
            executor_max_attempts=2,
            executor_backoff_base_s=0.5,
            executor_backoff_max_s=3,
        )
    )
    assert (cfg.retry.max_attempts, cfg.retry.base_s, cfg.retry.cap_s) == (2, 0.5, 3)
