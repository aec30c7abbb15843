"""The one settings object, read from ``SMARTDEPLOY_*`` environment variables.

It is built once by the CLI and passed to every component; nothing imports a
global instance. Secrets are ``SecretStr`` so they never appear in logs or reprs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All configuration of every smartdeploy process."""

    model_config = SettingsConfigDict(env_prefix="SMARTDEPLOY_", extra="ignore")

    # --- Kafka ---------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None, description="Kafka bootstrap servers; unset = start the embedded broker"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_partitions: int = Field(default=4, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_fetch_max_wait_ms: int = Field(
        default=50, ge=1, le=10_000,
        description="longest a worker fetch waits for data (Tansu always waits this long)",
    )
    embedded_broker_port: int = Field(default=0, ge=0, le=65535, description="0 = a free port")
    kafka_topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="prepended to every topic and group name (several stacks on one cluster)",
    )

    # --- storage -------------------------------------------------------------
    data_dir: Path = Path("var")
    clickhouse_dsn: str | None = Field(
        default=None, description="chdb:///abs/path (embedded) or http(s)://user:pw@host:8123/db"
    )

    # --- API -----------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_tokens: dict[str, SecretStr] = Field(
        default_factory=dict, description='JSON {"token": "role"}; empty = auth disabled'
    )
    ingest_token: SecretStr | None = None
    remote_write_basic_user: str | None = None
    remote_write_basic_password: SecretStr | None = None
    remote_write_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    remote_write_decode_threads: int = Field(
        default=2, ge=1, le=64, description="threads decoding remote-write bodies (GIL-free)"
    )
    remote_write_offload_bytes: int = Field(
        default=1024 * 1024, ge=0, description="bodies this large decode in the decode threads"
    )
    remote_write_series_cache: int = Field(
        default=65536, ge=0, description="label sets the decoder remembers (0 = off)"
    )
    api_cache_entries: int = Field(
        default=1000, ge=0, description="deployment details cached by the API (0 = off)"
    )
    api_cache_warm: int = Field(
        default=200, ge=0, description="newest deployments loaded into the cache at startup"
    )
    api_stream_max_s: float = Field(
        default=900.0, gt=0, description="SSE connections are closed (and reopened) after this"
    )

    # --- remote-write label mapping -------------------------------------------
    label_app: str = "app"
    label_version: str = "version"
    label_track: str = "track"
    label_deployment_id: str = "deployment_id"
    metric_allow: str = Field(
        default=r"^(http_requests_total|http_request_duration_seconds_(bucket|sum|count)|"
        r"container_cpu_usage_seconds_total|container_memory_working_set_bytes|"
        r"process_cpu_seconds_total|process_resident_memory_bytes|up|smartdeploy_.*)$",
        description="regex of metric names that some KPI policy needs",
    )

    # --- decisions -----------------------------------------------------------
    policies_file: Path | None = None
    model_checkpoint_every: int = Field(default=500, ge=1)

    # --- executor ------------------------------------------------------------
    executor_backend: Literal["dry_run", "kubernetes", "argo", "webhook"] = "dry_run"
    kube_context: str | None = None
    kube_config: Path | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    alert_webhook_url: str | None = None
    kube_host: str | None = Field(
        default=None, description="API server URL without credentials (e.g. kubectl proxy)"
    )
    executor_state_dir: Path | None = Field(
        default=None, description="ledger of executed command ids; unset = data_dir/executor"
    )
    executor_group_id: str = "smartdeploy-executor"
    executor_max_attempts: int = Field(default=5, ge=1)
    executor_backoff_base_s: float = Field(default=0.2, gt=0)
    executor_backoff_max_s: float = Field(default=10.0, gt=0)
    executor_version_label: str = "version"
    executor_argo_undo_when_promoted: bool = True

    # --- history (ClickHouse writer) -------------------------------------------
    history_group_id: str = "smartdeploy-history"
    history_batch_size: int = Field(default=1000, ge=1, description="records per insert")
    history_flush_interval_s: float = Field(default=1.0, gt=0, description="max buffering time")
    history_buffer_max: int = Field(
        default=20_000, ge=1, description="buffered records before consumption pauses"
    )
    history_retry_max_s: float = Field(default=30.0, gt=0, description="insert backoff cap")
    history_store_metrics: bool = Field(
        default=False, description="also store raw metric samples (metric_samples table)"
    )
    history_kpi_ttl_days: int = Field(default=90, ge=0, description="0 = keep KPI windows")
    history_metrics_ttl_days: int = Field(default=7, ge=0, description="0 = keep raw samples")
    history_heartbeat_file: Path | None = Field(
        default=None, description="touched every loop; for exec liveness probes"
    )

    @property
    def embedded_broker(self) -> bool:
        """True when no Kafka is configured and ``up`` must start Tansu itself."""
        return not self.kafka_bootstrap

    def resolved_clickhouse_dsn(self) -> str:
        """The DSN to use: configured, or embedded chdb under ``data_dir``."""
        if self.clickhouse_dsn:
            return self.clickhouse_dsn
        return f"chdb://{(self.data_dir / 'chdb').resolve()}"

    def kafka_config(self) -> dict[str, str]:
        """librdkafka settings (confluent-kafka) for the configured cluster."""
        conf: dict[str, str] = {
            "bootstrap.servers": self.kafka_bootstrap or "",
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            conf["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            conf["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        return conf
