"""Kubernetes objects and patch semantics for the in-test API server.

Builders for Deployments / ReplicaSets with a revision history shaped like the
controller's, and RFC 6902 / RFC 7386 patch application.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]
REV = "deployment.kubernetes.io/revision"
HIST = "deployment.kubernetes.io/revision-history"


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(doc: Obj, ops: list[Obj]) -> Obj:
    """Apply RFC 6902 add/replace/remove/test ops (objects only, enough here)."""
    out = copy.deepcopy(doc)
    for op in ops:
        *parents, last = _pointer(op["path"])
        node = out
        for part in parents:
            node = node[part]
        kind = op["op"]
        if kind == "test":
            if node.get(last) != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif kind == "remove":
            del node[last]
        elif kind == "replace":
            if last not in node:
                raise ValueError(f"replace of missing {op['path']}")
            node[last] = copy.deepcopy(op["value"])
        elif kind == "add":
            node[last] = copy.deepcopy(op["value"])
        else:
            raise ValueError(f"unsupported op {kind}")
    return out


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def status_body(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


def labels_match(obj: Obj, want: dict[str, str]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in want.items())


def owned_by(rs: Obj, owner: Obj) -> bool:
    return any(
        ref.get("uid") == owner["metadata"]["uid"]
        for ref in rs["metadata"].get("ownerReferences") or []
    )


def no_hash(template: Obj, label: str = "pod-template-hash") -> Obj:
    out = copy.deepcopy(template)
    out.get("metadata", {}).get("labels", {}).pop(label, None)
    return out


def pod_template(app: str, version: str, hash_label: str | None = None) -> Obj:
    labels = {"app": app, "version": version}
    if hash_label:
        labels[hash_label] = f"h{abs(hash(version)) % 10**8}"
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": app, "image": f"registry.local/{app}:{version}"}]},
    }


def make_rs(
    owner: Obj,
    revision: int,
    template: Obj,
    kind: str = "Deployment",
    rev_key: str = REV,
    hash_label: str = "pod-template-hash",
) -> Obj:
    meta = owner["metadata"]
    version = template["metadata"]["labels"]["version"]
    tpl = copy.deepcopy(template)
    tpl["metadata"]["labels"][hash_label] = f"h{revision}{version}"
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{version}-{revision}",
            "namespace": meta.get("namespace", "default"),
            "labels": dict(tpl["metadata"]["labels"]),
            "annotations": {rev_key: str(revision), "team": f"rs-{version}"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": kind,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {"replicas": 0, "template": tpl},
    }


def add_deployment(
    fake: Any,
    app: str,
    versions: list[str],
    namespace: str = "default",
    name: str | None = None,
) -> Obj:
    """A Deployment that went through ``versions`` (revision i+1 = versions[i]), at the last."""
    dep = fake.put(
        "deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name or app,
                "namespace": namespace,
                "annotations": {REV: str(len(versions)), "team": "web"},
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": app}},
                "template": pod_template(app, versions[-1]),
            },
        },
    )
    for i, version in enumerate(versions, start=1):
        fake.put("replicasets", make_rs(dep, i, pod_template(app, version)))
    return fake.get("deployments", dep["metadata"]["name"], namespace)
