"""The executor's Role grants what the backends call, and nothing more."""

from __future__ import annotations

from pathlib import Path

import yaml

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "executor-rbac.yaml"

#: (apiGroup, resource, verb) the backends use (see tests against the fake API server)
NEEDED = {
    ("apps", "deployments", "get"),
    ("apps", "deployments", "patch"),
    ("apps", "replicasets", "list"),
    ("", "services", "get"),
    ("", "services", "patch"),
    ("argoproj.io", "rollouts", "get"),
    ("argoproj.io", "rollouts", "patch"),
    ("argoproj.io", "rollouts/status", "patch"),
}


def _docs() -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all(RBAC.read_text())}


def test_role_only_reads_and_patches() -> None:
    granted = {
        (group, resource, verb)
        for rule in _docs()["Role"]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert {verb for _, _, verb in granted} <= {"get", "list", "watch", "patch"}
    assert {res.split("/")[0] for _, res, _ in granted} == {
        "deployments",
        "replicasets",
        "services",
        "rollouts",
    }
    assert granted >= NEEDED


def test_binding_ties_the_service_account_to_the_role() -> None:
    docs = _docs()
    binding, account = docs["RoleBinding"], docs["ServiceAccount"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": docs["Role"]["metadata"]["name"],
    }
    (subject,) = binding["subjects"]
    assert (subject["name"], subject["namespace"]) == (
        account["metadata"]["name"],
        account["metadata"]["namespace"],
    )
