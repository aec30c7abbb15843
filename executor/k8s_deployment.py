"""Backend for plain Kubernetes Deployments (and their Services).

* rolling / recreate: ``kubectl rollout undo`` semantics (see ``executor.revisions``);
* canary / shadow in a separate Deployment (``target.canary_name``): scale it to 0;
* blue/green (``target.service_name``): point the Service selector back at the old
  version — to the selector in the Service's ``smartdeploy.io/previous-selector``
  annotation (JSON, written by the CD system when it switched), else to the current
  selector with its version label set to ``to_version``.

Every write carries ``metadata.resourceVersion`` (409 if the object moved since it
was read; the retry re-reads and re-decides) and the command-id marker annotation.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client as k8s

from executor.backend import Outcome
from executor.config import KubeConfig
from executor.intent import action_for
from executor.kube import JSON_PATCH, MERGE_PATCH, KubeError, call, label_selector, ref
from executor.revisions import (
    MARKER,
    Obj,
    annotations_of,
    plan_undo,
    template_of,
    version_of,
)
from schemas.commands import RollbackCommand

PREVIOUS_SELECTOR = "smartdeploy.io/previous-selector"


class DeploymentBackend:
    """Rolls back Deployments through the apps/v1 and core/v1 APIs."""

    name = "kubernetes"

    def __init__(self, api: k8s.ApiClient, cfg: KubeConfig):
        self.apps = k8s.AppsV1Api(api)
        self.core = k8s.CoreV1Api(api)
        self.cfg = cfg

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Obj:
        result: Obj = call(fn, *args, timeout=self.cfg.request_timeout_s, **kwargs)
        return result

    def execute(self, command: RollbackCommand) -> Outcome:
        action = action_for(command)
        try:
            if action == "scale_to_zero":
                return self._scale_to_zero(command)
            if action == "switch_selector":
                return self._switch_selector(command)
            return self._undo(command)
        except KubeError as exc:
            return Outcome("failed", f"kubernetes API: {exc}")

    def _version_gate(self, command: RollbackCommand, template: Obj) -> Outcome | None:
        """Without a revision, the live version must still be the one the command is about."""
        live = version_of(template, self.cfg.version_label)
        if command.from_revision is not None or not command.from_version or live is None:
            return None
        if live == command.from_version:
            return None
        if command.to_version and live == command.to_version:
            return Outcome("already_rolled_back", f"target already runs {live}")
        return Outcome("stale", f"command was for {command.from_version}, target runs {live}")

    def _undo(self, command: RollbackCommand) -> Outcome:
        ns, name = command.target.namespace, command.target.name or command.app
        dep = self._call(self.apps.read_namespaced_deployment, name, ns)
        if annotations_of(dep).get(MARKER) != command.id:
            gate = self._version_gate(command, template_of(dep))
            if gate is not None:
                return gate
            if (dep.get("spec") or {}).get("paused"):
                return Outcome("failed", "deployment is paused; kubectl refuses to undo it too")
        selector = label_selector((dep.get("spec") or {}).get("selector"))
        rss = self._call(self.apps.list_namespaced_replica_set, ns, label_selector=selector)
        plan = plan_undo(
            dep, rss.get("items") or [], command_id=command.id, from_revision=command.from_revision
        )
        if plan.status != "patch":
            return Outcome(plan.status, plan.detail)
        self._call(
            self.apps.patch_namespaced_deployment, name, ns, plan.patch, _content_type=JSON_PATCH
        )
        op = ref(
            "Deployment",
            ns,
            name,
            op="undo",
            patch_type="json",
            from_revision=plan.live_revision,
            to_revision=plan.to_revision,
        )
        return Outcome("succeeded", plan.detail, [op])

    def _scale_to_zero(self, command: RollbackCommand) -> Outcome:
        ns, name = command.target.namespace, str(command.target.canary_name)
        dep = self._call(self.apps.read_namespaced_deployment, name, ns)
        replicas = (dep.get("spec") or {}).get("replicas", 1)
        if annotations_of(dep).get(MARKER) == command.id or replicas == 0:
            return Outcome("already_rolled_back", f"canary {name} already has 0 replicas")
        live = version_of(template_of(dep), self.cfg.version_label)
        if command.from_version and live is not None and live != command.from_version:
            return Outcome("stale", f"command was for {command.from_version}, canary runs {live}")
        patch = {
            "metadata": {
                "resourceVersion": dep["metadata"].get("resourceVersion"),
                "annotations": {MARKER: command.id},
            },
            "spec": {"replicas": 0},
        }
        self._call(
            self.apps.patch_namespaced_deployment, name, ns, patch, _content_type=MERGE_PATCH
        )
        op = ref("Deployment", ns, name, op="scale", replicas=0, previous_replicas=replicas)
        return Outcome("succeeded", f"canary {name} scaled {replicas} -> 0", [op])

    def _switch_selector(self, command: RollbackCommand) -> Outcome:
        ns, name = command.target.namespace, str(command.target.service_name)
        svc = self._call(self.core.read_namespaced_service, name, ns)
        ann = annotations_of(svc)
        selector: dict[str, str] = dict((svc.get("spec") or {}).get("selector") or {})
        if ann.get(MARKER) == command.id:
            return Outcome(
                "already_rolled_back", f"service {name} already switched by this command"
            )
        previous = _previous_selector(ann, selector, command.to_version, self.cfg.version_label)
        if previous is None:
            return Outcome(
                "failed",
                f"service {name}: no {PREVIOUS_SELECTOR} annotation and no to_version to select",
            )
        if selector == previous:
            return Outcome("already_rolled_back", f"service {name} already selects {previous}")
        live = selector.get(self.cfg.version_label)
        if command.from_version and live is not None and live != command.from_version:
            return Outcome(
                "stale", f"command was for {command.from_version}, service {name} selects {live}"
            )
        patch = [
            {
                "op": "replace",
                "path": "/metadata/resourceVersion",
                "value": svc["metadata"].get("resourceVersion"),
            },
            {"op": "replace", "path": "/spec/selector", "value": previous},
            {"op": "add", "path": "/metadata/annotations", "value": {**ann, MARKER: command.id}},
        ]
        self._call(self.core.patch_namespaced_service, name, ns, patch, _content_type=JSON_PATCH)
        op = ref("Service", ns, name, op="switch_selector", selector=previous, was=selector)
        return Outcome("succeeded", f"service {name} selector -> {previous}", [op])


def _previous_selector(
    ann: dict[str, str], selector: dict[str, str], to_version: str | None, label: str
) -> dict[str, str] | None:
    """The selector to switch back to (annotation first, else version label swap).

    >>> _previous_selector({}, {"app": "w", "version": "v2"}, "v1", "version")
    {'app': 'w', 'version': 'v1'}
    >>> _previous_selector({PREVIOUS_SELECTOR: '{"app": "w", "color": "blue"}'}, {}, None, "v")
    {'app': 'w', 'color': 'blue'}
    """
    raw = ann.get(PREVIOUS_SELECTOR)
    if raw:
        try:
            parsed = json.loads(raw)
            if isinstance(parsed, dict) and parsed:
                return {str(k): str(v) for k, v in parsed.items()}
        except ValueError:
            pass
    if to_version:
        return {**selector, label: to_version}
    return None
