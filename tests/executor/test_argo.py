"""Argo Rollouts: abort is the plugin's patch; undo restores the previous template."""

from __future__ import annotations

from collections.abc import Callable

from executor.backend import Backend
from executor.core import Executor
from executor.revisions import ROLLOUT_HASH, ROLLOUT_REVISION
from tests.executor.conftest import command
from tests.executor.fake_kube import FakeKube, make_rs, pod_template

MakeExecutor = Callable[..., Executor]
ARGO = {"kind": "argo_rollout"}


def add_rollout(fake: FakeKube, versions: list[str], promoted: bool = False) -> None:
    ro = fake.put(
        "rollouts",
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "annotations": {ROLLOUT_REVISION: str(len(versions))},
            },
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": pod_template("web", versions[-1]),
                "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
            },
            "status": {"stableRS": "stable", "currentPodHash": "stable" if promoted else "canary"},
        },
    )
    for i, version in enumerate(versions, start=1):
        fake.put(
            "replicasets",
            make_rs(
                ro,
                i,
                pod_template("web", version),
                kind="Rollout",
                rev_key=ROLLOUT_REVISION,
                hash_label=ROLLOUT_HASH,
            ),
        )


def test_abort_sends_the_patch_the_argo_plugin_sends(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_rollout(fake, ["v1", "v2"])
    result = make_executor(kube).handle(command(target=ARGO, from_revision="2")).result

    assert result.status == "succeeded" and result.backend == "argo"
    (patch,) = fake.patches()
    assert patch.path == "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/web/status"
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body == {"status": {"abort": True}}
    ro = fake.get("rollouts", "web")
    assert ro["status"]["abort"] is True
    assert ro["spec"]["template"] == pod_template("web", "v2")  # abort leaves the spec alone


def test_abort_falls_back_to_the_main_resource_without_status_subresource(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_rollout(fake, ["v1", "v2"])
    fake.inject("PATCH", "rollouts/status", [404])
    result = (
        make_executor(kube).handle(command(target=ARGO, from_version="v2", to_version="v1")).result
    )

    assert result.status == "succeeded"
    assert [p.resource for p in fake.patches()] == ["rollouts/status", "rollouts"]
    assert fake.patches()[1].body == {"status": {"abort": True}}


def test_already_aborted_rollout_is_not_patched(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_rollout(fake, ["v1", "v2"])
    first = (
        make_executor(kube).handle(command(target=ARGO, from_version="v2", to_version="v1")).result
    )
    fresh = (
        make_executor(kube, state=None)
        .handle(command(id="cmd-2", target=ARGO, from_version="v2", to_version="v1"))
        .result
    )
    assert (first.status, fresh.status) == ("succeeded", "already_rolled_back")
    assert len(fake.patches()) == 1


def test_abort_for_an_older_revision_is_stale(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_rollout(fake, ["v1", "v2", "v3"])
    result = make_executor(kube).handle(command(target=ARGO, from_revision="2")).result
    assert result.status == "stale" and fake.patches() == []


def test_undo_when_asked_restores_the_previous_template(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_rollout(fake, ["v1", "v2", "v3"])
    result = make_executor(kube).handle(command(target=ARGO, from_revision="3", undo=True)).result

    assert result.status == "succeeded", result.detail
    assert [op["op"] for op in result.operations] == ["abort", "undo"]
    ro = fake.get("rollouts", "web")
    assert ro["spec"]["template"] == pod_template("web", "v2")
    assert ROLLOUT_HASH not in ro["spec"]["template"]["metadata"]["labels"]
    undo = fake.patches("rollouts")[-1]
    assert undo.content_type == "application/json-patch+json"
    assert {
        "op": "replace",
        "path": "/spec/template",
        "value": pod_template("web", "v2"),
    } in undo.body


def test_fully_promoted_rollout_is_undone_since_abort_cannot_revert(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_rollout(fake, ["v1", "v2"], promoted=True)
    result = make_executor(kube).handle(command(target=ARGO, from_revision="2")).result
    assert result.status == "succeeded"
    assert [p.resource for p in fake.patches()] == ["rollouts"]  # no useless abort
    assert fake.get("rollouts", "web")["spec"]["template"] == pod_template("web", "v1")


def test_undo_conflict_after_abort_retries_only_the_undo(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_rollout(fake, ["v1", "v2"])
    fake.inject("PATCH", "rollouts", [409])
    result = (
        make_executor(kube)
        .handle(command(target=ARGO, undo=True, from_version="v2", to_version="v1"))
        .result
    )
    assert result.status == "succeeded" and result.attempts == 2
    assert [p.resource for p in fake.patches()] == ["rollouts/status", "rollouts", "rollouts"]


def test_without_revision_a_rollout_on_another_version_is_stale(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_rollout(fake, ["v1", "v2", "v4"])
    ex = make_executor(kube)
    stale = ex.handle(command(id="a", target=ARGO, from_version="v3", to_version="v2")).result
    done = ex.handle(command(id="b", target=ARGO, from_version="v4", to_version="v2")).result
    assert (stale.status, done.status) == ("stale", "succeeded")
    assert len(fake.patches()) == 1
