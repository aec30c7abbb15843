"""Backend for Argo Rollouts, through the Rollout custom resource.

Abort is what ``kubectl argo rollouts abort`` sends (read from the plugin's source,
``pkg/kubectl-argo-rollouts/cmd/abort/abort.go``): the merge patch
``{"status":{"abort":true}}`` on the ``status`` subresource, and the same patch on
the main resource when the status subresource is not found (404). The controller
then scales the canary / preview down and sends all traffic to the stable
ReplicaSet. Abort leaves ``spec.template`` at the new version; undo (asked for with
``command.undo``, or automatic on a fully promoted Rollout where abort can no longer
revert) restores the previous revision's template like ``kubectl argo rollouts
undo``: owned ReplicaSets by ``rollout.argoproj.io/revision``, JSON patch of
``/spec/template`` without the ``rollouts-pod-template-hash`` label.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from executor.backend import Outcome
from executor.config import KubeConfig
from executor.kube import JSON_PATCH, MERGE_PATCH, KubeError, call, label_selector, ref
from executor.revisions import (
    MARKER,
    ROLLOUT_HASH,
    ROLLOUT_REVISION,
    Obj,
    annotations_of,
    plan_undo,
    revision,
    template_of,
    version_of,
)
from schemas.commands import RollbackCommand

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "rollouts"
ABORT_PATCH: dict[str, Any] = {"status": {"abort": True}}


class ArgoRolloutBackend:
    """Aborts (and optionally undoes) Argo Rollouts."""

    name = "argo"

    def __init__(self, api: k8s.ApiClient, cfg: KubeConfig):
        self.custom = k8s.CustomObjectsApi(api)
        self.apps = k8s.AppsV1Api(api)
        self.cfg = cfg

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Obj:
        result: Obj = call(fn, *args, timeout=self.cfg.request_timeout_s, **kwargs)
        return result

    def execute(self, command: RollbackCommand) -> Outcome:
        try:
            return self._execute(command)
        except KubeError as exc:
            return Outcome("failed", f"kubernetes API: {exc}")

    def _execute(self, command: RollbackCommand) -> Outcome:
        ns, name = command.target.namespace, command.target.name or command.app
        ro = self._call(self.custom.get_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, name)
        if annotations_of(ro).get(MARKER) == command.id:
            return Outcome("already_rolled_back", f"rollout {name} already undone by this command")
        status = ro.get("status") or {}
        promoted = bool(status.get("stableRS")) and status.get("stableRS") == status.get(
            "currentPodHash"
        )
        undo = command.undo or (promoted and self.cfg.argo_undo_when_promoted)
        live_rev = revision(ro, ROLLOUT_REVISION)
        live_version = version_of(template_of(ro), self.cfg.version_label)
        if (
            command.from_revision is None
            and command.from_version
            and live_version
            not in (
                None,
                command.from_version,
            )
        ):
            if live_version == command.to_version:
                return Outcome("already_rolled_back", f"rollout {name} already runs {live_version}")
            return Outcome(
                "stale", f"command was for {command.from_version}, rollout runs {live_version}"
            )
        if (
            not undo
            and command.from_revision is not None
            and str(live_rev) != command.from_revision
        ):
            return Outcome(
                "stale",
                f"command was for revision {command.from_revision}, rollout is at {live_rev}",
            )
        plan = None
        if undo:
            rss = self._call(
                self.apps.list_namespaced_replica_set,
                ns,
                label_selector=label_selector((ro.get("spec") or {}).get("selector")),
            )
            plan = plan_undo(
                ro,
                rss.get("items") or [],
                command_id=command.id,
                from_revision=command.from_revision,
                revision_key=ROLLOUT_REVISION,
                hash_label=ROLLOUT_HASH,
                copy_annotations=False,
            )
            if plan.status != "patch":  # stale / failed / already: touch nothing
                return Outcome(plan.status, plan.detail)
        ops: list[dict[str, Any]] = []
        notes: list[str] = []
        if promoted:
            notes.append("fully promoted: abort cannot revert")
        elif status.get("abort"):
            notes.append("already aborted")
        else:
            op, after = self._abort(ns, name)
            ops.append(op)
            notes.append("aborted")
            if plan is not None:  # our own status write bumped resourceVersion: patch on it
                _set_resource_version(
                    plan.patch, (after.get("metadata") or {}).get("resourceVersion")
                )
        if plan is not None:
            self._call(
                self.custom.patch_namespaced_custom_object,
                GROUP,
                VERSION,
                ns,
                PLURAL,
                name,
                plan.patch,
                _content_type=JSON_PATCH,
            )
            notes.append(f"undone {plan.detail}")
            ops.append(
                ref(
                    "Rollout",
                    ns,
                    name,
                    op="undo",
                    patch_type="json",
                    from_revision=plan.live_revision,
                    to_revision=plan.to_revision,
                )
            )
        if ops:
            return Outcome("succeeded", "; ".join(notes), ops)
        if promoted:
            return Outcome(
                "failed", f"rollout {name} is fully promoted; abort cannot revert, undo is off"
            )
        return Outcome("already_rolled_back", "; ".join(notes))

    def _abort(self, ns: str, name: str) -> tuple[dict[str, Any], Obj]:
        """The plugin's abort: status subresource first, main resource if that is 404.

        Returns the operation record and the Rollout as the server returned it.
        """
        args = (GROUP, VERSION, ns, PLURAL, name, ABORT_PATCH)
        try:
            after = self._call(
                self.custom.patch_namespaced_custom_object_status, *args, _content_type=MERGE_PATCH
            )
            sub = "status"
        except KubeError as exc:
            if exc.status != 404:
                raise
            after = self._call(
                self.custom.patch_namespaced_custom_object, *args, _content_type=MERGE_PATCH
            )
            sub = ""
        op = ref(
            "Rollout", ns, name, op="abort", patch_type="merge", patch=ABORT_PATCH, subresource=sub
        )
        return op, after


def _set_resource_version(patch: list[dict[str, Any]], version: str | None) -> None:
    """Point a JSON patch's resourceVersion precondition at ``version``."""
    for op in patch:
        if op.get("path") == "/metadata/resourceVersion" and version:
            op["value"] = version
