"""docker-compose.yml, Dockerfile, .dockerignore and the Prometheus configs.

No Docker engine runs here and this machine has no ``docker compose`` plugin, so the
compose file is checked structurally (services, wiring, mounts, settings); where the
plugin exists, ``docker compose config`` must accept it too. Prometheus' own
``promtool`` checks the compose-side Prometheus config.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.helpers import CLI_COMMANDS, ROOT, SETTINGS_ENV

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
SMARTDEPLOY = ("worker", "executor", "history", "api")


def _compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


def test_compose_runs_the_whole_production_stack() -> None:
    assert set(SERVICES) >= {"kafka", "clickhouse", "grafana", "prometheus", *SMARTDEPLOY}
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    kraft = SERVICES["kafka"]["environment"]
    assert set(kraft["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in " ".join(kraft)
    assert SERVICES["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    if _compose_plugin():
        done = subprocess.run(
            ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                "SMARTDEPLOY_INGEST_TOKEN": "t",
                "SMARTDEPLOY_API_TOKENS": '{"t": "admin:test"}',
                "PATH": "/usr/bin:/bin",
            },
        )
        assert done.returncode == 0, done.stderr


def test_smartdeploy_services_share_one_image_and_use_real_commands() -> None:
    for name in SMARTDEPLOY:
        svc = SERVICES[name]
        assert svc["build"] == "." and svc["image"] == "smartdeploy:local"
        assert svc["command"][0] in CLI_COMMANDS
        assert svc["command"][0] == name
        env = svc["environment"]
        assert set(env) <= SETTINGS_ENV, set(env) - SETTINGS_ENV
        assert env["SMARTDEPLOY_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["SMARTDEPLOY_CLICKHOUSE_DSN"].startswith("http://")
        assert "@clickhouse:8123/" in env["SMARTDEPLOY_CLICKHOUSE_DSN"]
        assert {"kafka", "clickhouse"} <= set(svc["depends_on"])


def test_every_dependency_and_named_volume_is_declared() -> None:
    volumes = set(COMPOSE["volumes"])
    for name, svc in SERVICES.items():
        assert set(svc.get("depends_on", {})) <= set(SERVICES), name
        for mount in svc.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
            else:
                assert source in volumes, source


def test_grafana_gets_the_plugin_provisioning_and_the_datasource_variables() -> None:
    grafana = SERVICES["grafana"]
    env = grafana["environment"]
    assert "grafana-clickhouse-datasource" in env["GF_INSTALL_PLUGINS"]
    mounts = dict(m.rsplit(":", 1)[0].split(":", 1) for m in grafana["volumes"] if ":ro" in m)
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/smartdeploy.yaml").read_text()
    )
    assert mounts["./deploy/grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    datasource = (ROOT / "deploy/grafana/provisioning/datasources/clickhouse.yaml").read_text()
    for variable in re.findall(r"\$\{(\w+)\}", datasource):
        assert variable in env, variable


def test_only_the_api_holds_the_tokens() -> None:
    tokens = {"SMARTDEPLOY_INGEST_TOKEN", "SMARTDEPLOY_API_TOKENS"}
    for name in SMARTDEPLOY:
        held = tokens & set(SERVICES[name]["environment"])
        assert held == (tokens if name == "api" else set()), name


def test_prometheus_remote_writes_to_the_api_ingest_with_the_ingest_token() -> None:
    prom = SERVICES["prometheus"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom["volumes"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    [rw] = config["remote_write"]
    assert rw["url"] == "http://api:8000/api/v1/write"
    secret = prom["secrets"][0]["target"]
    assert rw["authorization"]["credentials_file"] == f"/run/secrets/{secret}"
    assert COMPOSE["secrets"][secret]["environment"] == "SMARTDEPLOY_INGEST_TOKEN"


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "Debian's prometheus package provides promtool"
    token = tmp_path / "token"
    token.write_text("t")
    text = (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace("/run/secrets/smartdeploy_ingest_token", str(token)))
    done = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_in_cluster_prometheus_config_targets_the_api_service() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus-kubernetes.yml").read_text())
    [rw] = config["remote_write"]
    assert rw["url"] == "http://smartdeploy-api.smartdeploy.svc:8000/api/v1/write"
    targets = {
        r.get("target_label")
        for job in config["scrape_configs"]
        for r in job.get("relabel_configs", [])
    }
    assert {"app", "version", "track", "deployment_id"} <= targets


def test_dockerfile_builds_every_package_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("# syntax=docker/dockerfile:")
    copied = set(re.findall(r"^COPY (\w+) ", text, flags=re.M))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    assert copied == packages and all((ROOT / p).is_dir() for p in packages)
    assert re.search(r"^USER 10001", text, flags=re.M)
    assert 'ENTRYPOINT ["smartdeploy"]' in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", "tests", ".git"} <= set(ignored)
