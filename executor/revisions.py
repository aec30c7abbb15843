"""Pure rollback planning over raw Kubernetes objects (dicts as the API returns them).

This is the decision ``kubectl rollout undo`` makes, written as a function of the
objects so it can be unit- and property-tested without a cluster:

* the owned ReplicaSets carry a revision annotation; the one whose pod template
  equals the workload's (ignoring the pod-template-hash label) is *live*;
* the command names the revision it was issued for (``from_revision``, else the
  live one); the rollback target is the highest revision below it, also looking at
  ``revision-history`` because the controller renumbers a re-used ReplicaSet;
* live is the bad revision -> patch back; live is the previous one ->
  ``already_rolled_back``; anything else (someone deployed again) -> ``stale``.

The patch replaces ``/spec/template`` with the previous ReplicaSet's template minus
the hash label, exactly like kubectl, and also sets ``metadata.resourceVersion`` so
the API server rejects it with 409 if the object changed since it was read, plus a
marker annotation with the command id, so "already done by this command" can be
read from the target itself after a crash.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

MARKER = "smartdeploy.io/rollback-command"

DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"
DEPLOYMENT_HISTORY = "deployment.kubernetes.io/revision-history"
DEPLOYMENT_HASH = "pod-template-hash"
ROLLOUT_REVISION = "rollout.argoproj.io/revision"
ROLLOUT_HASH = "rollouts-pod-template-hash"

#: annotations kubectl keeps from the Deployment instead of copying from the ReplicaSet
KEEP_ON_DEPLOYMENT = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        DEPLOYMENT_REVISION,
        DEPLOYMENT_HISTORY,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)

Obj = dict[str, Any]


@dataclass
class Plan:
    """What to do with a workload: patch it, or record why not."""

    status: Literal["patch", "already_rolled_back", "stale", "failed"]
    detail: str
    patch: list[dict[str, Any]] = field(default_factory=list)
    to_revision: int | None = None
    live_revision: int | None = None


def annotations_of(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def revision(obj: Obj, key: str) -> int | None:
    """The integer revision annotation, or None.

    >>> revision({"metadata": {"annotations": {"r": "7"}}}, "r")
    7
    >>> revision({"metadata": {}}, "r") is None
    True
    """
    raw = annotations_of(obj).get(key)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def history(obj: Obj, key: str = DEPLOYMENT_HISTORY) -> set[int]:
    """Earlier revisions of a re-used ReplicaSet (``"1,3"`` -> {1, 3})."""
    raw = annotations_of(obj).get(key) or ""
    return {int(p) for p in raw.split(",") if p.strip().isdigit()}


def controlled_by(child: Obj, owner: Obj) -> bool:
    """True when ``child``'s controller ownerReference points at ``owner`` (by uid)."""
    meta = owner.get("metadata") or {}
    for ref in (child.get("metadata") or {}).get("ownerReferences") or []:
        if not ref.get("controller"):
            continue
        if meta.get("uid") and ref.get("uid") == meta.get("uid"):
            return True
        if not meta.get("uid") and ref.get("name") == meta.get("name"):
            return True
    return False


def without_hash(template: Obj, hash_label: str) -> Obj:
    """A deep copy of a pod template without the controller's hash label.

    >>> without_hash({"metadata": {"labels": {"a": "1", "h": "x"}}}, "h")
    {'metadata': {'labels': {'a': '1'}}}
    """
    out = copy.deepcopy(template or {})
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(hash_label, None)
    return out


def template_of(obj: Obj) -> Obj:
    return dict((obj.get("spec") or {}).get("template") or {})


def same_template(a: Obj, b: Obj, hash_label: str) -> bool:
    return without_hash(a, hash_label) == without_hash(b, hash_label)


def plan_undo(
    workload: Obj,
    replicasets: list[Obj],
    *,
    command_id: str,
    from_revision: str | None,
    revision_key: str = DEPLOYMENT_REVISION,
    hash_label: str = DEPLOYMENT_HASH,
    copy_annotations: bool = True,
) -> Plan:
    """Decide how to roll ``workload`` back one revision (see module docstring)."""
    if annotations_of(workload).get(MARKER) == command_id:
        return Plan("already_rolled_back", f"target already carries command {command_id}")
    owned = [rs for rs in replicasets if controlled_by(rs, workload)]
    live = next(
        (rs for rs in owned if same_template(template_of(rs), template_of(workload), hash_label)),
        None,
    )
    live_rev = revision(live, revision_key) if live is not None else None
    if from_revision is not None:
        try:
            bad_rev: int | None = int(from_revision)
        except ValueError:
            return Plan("failed", f"from_revision {from_revision!r} is not an integer")
    else:
        bad_rev = live_rev
    if live is None or bad_rev is None:
        return Plan(
            "stale",
            "the pod template matches no ReplicaSet: a newer rollout is in progress",
            live_revision=revision(workload, revision_key),
        )
    known: set[int] = set()
    for rs in owned:
        rev = revision(rs, revision_key)
        if rev is not None:
            known.add(rev)
        known |= history(rs)
    below = [r for r in known if r < bad_rev]
    prev_rev = max(below) if below else None
    prev = next(
        (
            rs
            for rs in owned
            if prev_rev is not None
            and (revision(rs, revision_key) == prev_rev or prev_rev in history(rs))
        ),
        None,
    )
    if live_rev == bad_rev:
        if prev is None or prev_rev is None:
            return Plan(
                "failed", f"no revision before {bad_rev} to roll back to", live_revision=live_rev
            )
        return Plan(
            "patch",
            f"revision {bad_rev} -> {prev_rev}",
            live_revision=live_rev,
            to_revision=prev_rev,
            patch=_undo_patch(workload, prev, command_id, hash_label, copy_annotations),
        )
    if prev is not None and live is prev:
        return Plan(
            "already_rolled_back",
            f"live template is already revision {prev_rev}'s",
            live_revision=live_rev,
            to_revision=prev_rev,
        )
    return Plan(
        "stale",
        f"command was for revision {bad_rev}, target is at {live_rev}",
        live_revision=live_rev,
    )


def _undo_patch(
    workload: Obj, prev: Obj, command_id: str, hash_label: str, copy_annotations: bool
) -> list[dict[str, Any]]:
    """JSON patch: precondition on resourceVersion, template, annotations (+ marker)."""
    current = annotations_of(workload)
    if copy_annotations:  # what kubectl does for Deployments
        new_ann = {k: v for k, v in current.items() if k in KEEP_ON_DEPLOYMENT}
        new_ann.update(
            {k: v for k, v in annotations_of(prev).items() if k not in KEEP_ON_DEPLOYMENT}
        )
    else:
        new_ann = current
    new_ann[MARKER] = command_id
    version = (workload.get("metadata") or {}).get("resourceVersion")
    ops: list[dict[str, Any]] = []
    if version:
        ops.append({"op": "replace", "path": "/metadata/resourceVersion", "value": version})
    ops.append(
        {
            "op": "replace",
            "path": "/spec/template",
            "value": without_hash(template_of(prev), hash_label),
        }
    )
    ops.append({"op": "add", "path": "/metadata/annotations", "value": new_ann})
    return ops


def version_of(template: Obj, label: str) -> str | None:
    """The version a pod template runs: its ``label`` label, else the first image's tag.

    >>> version_of({"metadata": {"labels": {"version": "v2"}}}, "version")
    'v2'
    >>> version_of({"spec": {"containers": [{"image": "reg:5000/web:1.4"}]}}, "version")
    '1.4'
    >>> version_of({}, "version") is None
    True
    """
    labels = (template.get("metadata") or {}).get("labels") or {}
    if label in labels:
        return str(labels[label])
    containers = (template.get("spec") or {}).get("containers") or []
    image = str(containers[0].get("image", "")) if containers else ""
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1].split("@", 1)[0] if ":" in last else None
