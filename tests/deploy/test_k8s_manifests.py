"""Kubernetes manifests: schema-valid offline (kubernetes-validate), probes, resources,
least privilege, and only settings / commands that exist."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from smartdeploy.settings import Settings
from tests.deploy.helpers import CLI_COMMANDS, K8S, SETTINGS_ENV

K8S_VERSION = "1.30.0"
MANIFESTS = [p for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]
BUNDLED = [p for p in sorted((K8S / "bundled").glob("*.yaml")) if p.name != "kustomization.yaml"]


def _docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in MANIFESTS + BUNDLED:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                name = f"{path.parent.name}/{path.name}:{doc['kind']}/{doc['metadata']['name']}"
                out.append((name, doc))
    return out


DOCS = _docs()
ALL_WORKLOADS = [(n, d) for n, d in DOCS if d["kind"] in ("Deployment", "StatefulSet")]
#: smartdeploy's own processes (the bundled Kafka/ClickHouse/Grafana/Prometheus are not).
WORKLOADS = [
    (n, d)
    for n, d in ALL_WORKLOADS
    if d["metadata"]["labels"]["app.kubernetes.io/name"] == "smartdeploy"
]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[n for n, _ in DOCS])
def test_every_resource_is_valid_for_kubernetes(name: str, doc: dict[str, Any]) -> None:
    for version in (K8S_VERSION, kubernetes_validate.latest_version()):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_four_processes_are_deployed_with_existing_cli_commands() -> None:
    commands = {}
    for _, doc in WORKLOADS:
        for c in _containers(doc):
            assert c["args"][0] in CLI_COMMANDS
            commands[c["args"][0]] = doc
    assert set(commands) == {"worker", "executor", "history", "api"}


@pytest.mark.parametrize(("name", "doc"), ALL_WORKLOADS, ids=[n for n, _ in ALL_WORKLOADS])
def test_workloads_have_probes_resources_and_run_unprivileged(
    name: str, doc: dict[str, Any]
) -> None:
    pod = doc["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for c in _containers(doc):
        assert {"cpu", "memory"} <= set(c["resources"]["requests"])
        assert {"cpu", "memory"} <= set(c["resources"]["limits"])
        assert any(k in c for k in ("livenessProbe", "readinessProbe", "startupProbe"))
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize(("name", "doc"), WORKLOADS, ids=[n for n, _ in WORKLOADS])
def test_smartdeploy_containers_have_a_read_only_root(name: str, doc: dict[str, Any]) -> None:
    for c in _containers(doc):
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts  # writable scratch on a read-only root


def test_api_probes_use_healthz_and_readyz() -> None:
    [api] = [d for _, d in WORKLOADS if d["metadata"]["name"] == "smartdeploy-api"]
    [c] = _containers(api)
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_history_liveness_reads_the_heartbeat_file_the_writer_touches() -> None:
    [hist] = [d for _, d in WORKLOADS if d["metadata"]["name"] == "smartdeploy-history"]
    [c] = _containers(hist)
    config = next(d for _, d in DOCS if d["kind"] == "ConfigMap")
    heartbeat = config["data"]["SMARTDEPLOY_HISTORY_HEARTBEAT_FILE"]
    assert heartbeat in " ".join(c["livenessProbe"]["exec"]["command"])


def test_of_smartdeploy_only_the_executor_gets_a_kubernetes_identity() -> None:
    accounts = {d["metadata"]["name"] for _, d in DOCS if d["kind"] == "ServiceAccount"}
    for _, doc in WORKLOADS:
        pod = doc["spec"]["template"]["spec"]
        if doc["metadata"]["name"] == "smartdeploy-executor":
            assert pod["serviceAccountName"] == "smartdeploy-executor" in accounts
        else:
            assert pod["automountServiceAccountToken"] is False


def test_env_names_are_real_settings_and_secrets_come_from_secret_refs() -> None:
    config = next(d for _, d in DOCS if d["kind"] == "ConfigMap")
    assert set(config["data"]) <= SETTINGS_ENV
    for _, doc in ALL_WORKLOADS:
        for c in _containers(doc):
            for env in c.get("env", []):
                if doc in [d for _, d in WORKLOADS]:
                    assert env["name"] in SETTINGS_ENV, env["name"]
                if any(s in env["name"] for s in ("TOKEN", "PASSWORD", "SECRET", "DSN")):
                    assert env["valueFrom"]["secretKeyRef"]["name"] == "smartdeploy-secrets"


def test_the_config_map_is_a_valid_settings_object(monkeypatch: pytest.MonkeyPatch) -> None:
    config = next(d for _, d in DOCS if d["kind"] == "ConfigMap")
    for key, value in config["data"].items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.executor_backend == "kubernetes" and not settings.embedded_broker


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)


def test_the_bundled_install_adds_the_stack_on_top_of_smartdeploy() -> None:
    kustomization = yaml.safe_load((K8S / "bundled" / "kustomization.yaml").read_text())
    assert kustomization["resources"][0] == "../"
    assert sorted(kustomization["resources"][1:]) == sorted(p.name for p in BUNDLED)
    config = next(
        d
        for _, d in DOCS
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "smartdeploy-config"
    )
    for patch in kustomization["patches"]:
        for op in yaml.safe_load(patch["patch"]):
            key = op["path"].removeprefix("/data/")
            assert key in config["data"]
    services = {d["metadata"]["name"] for _, d in DOCS if d["kind"] == "Service"}
    assert {"kafka", "clickhouse", "grafana", "smartdeploy-api"} <= services


def _config_map(name: str) -> dict[str, str]:
    return next(d for _, d in DOCS if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name)[
        "data"
    ]


def test_bundled_config_maps_are_exact_copies_of_the_deploy_files() -> None:
    """If this fails: python deploy/k8s/bundled/sync_configmaps.py"""
    deploy = K8S.parent
    dashboards = _config_map("grafana-dashboards")
    assert dashboards == {
        p.name: p.read_text() for p in (deploy / "grafana/dashboards").glob("*.json")
    }
    provisioning = _config_map("grafana-provisioning")
    assert (
        provisioning["datasources.yaml"]
        == (deploy / "grafana/provisioning/datasources/clickhouse.yaml").read_text()
    )
    assert (
        provisioning["dashboards.yaml"]
        == (deploy / "grafana/provisioning/dashboards/smartdeploy.yaml").read_text()
    )
    prometheus = _config_map("prometheus-config")
    assert (
        prometheus["prometheus.yml"]
        == (deploy / "prometheus/prometheus-kubernetes.yml").read_text()
    )
