"""Deployment rollbacks through the real kubernetes client against the in-test API server."""

from __future__ import annotations

from collections.abc import Callable

from executor.alerts import WebhookAlerter
from executor.backend import Backend
from executor.core import Executor
from executor.revisions import MARKER
from schemas import derived_id
from tests.executor.conftest import Sleeps, command
from tests.executor.fake_kube import REV, FakeKube, add_deployment, pod_template
from tests.executor.receiver import Receiver

MakeExecutor = Callable[..., Executor]


def test_undo_lands_on_the_previous_revision_like_kubectl(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    result = make_executor(kube).handle(command(from_revision="3")).result

    assert result.status == "succeeded", result.detail
    assert result.id == derived_id("cmd-1", "action")
    dep = fake.get("deployments", "web")
    assert dep["spec"]["template"] == pod_template("web", "v2")  # no pod-template-hash label
    ann = dep["metadata"]["annotations"]
    assert ann["team"] == "rs-v2"  # copied from the ReplicaSet, as kubectl does
    assert ann[REV] == "3"  # revision annotations stay the Deployment's own
    assert ann[MARKER] == "cmd-1"
    (patch,) = fake.patches("deployments")
    assert patch.content_type == "application/json-patch+json"
    assert result.operations[0]["to_revision"] == 2
    fake.reconcile_deployment("web")
    assert fake.get("deployments", "web")["metadata"]["annotations"][REV] == "4"


def test_duplicate_command_patches_once(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    executor = make_executor(kube)
    first = executor.handle(command(from_revision="3"))
    again = executor.handle(command(from_revision="3"))

    assert len(fake.patches()) == 1
    assert again.replayed and again.result == first.result
    assert again.audit.id == first.audit.id


def test_stale_revision_is_recorded_and_not_patched(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3", "v4"])  # someone deployed v4 since
    result = make_executor(kube).handle(command(from_revision="3")).result

    assert result.status == "stale"
    assert fake.patches() == []


def test_target_rolled_back_by_someone_else_is_already_rolled_back(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    dep = fake.get("deployments", "web")
    dep["spec"]["template"] = pod_template("web", "v2")  # an operator's `kubectl rollout undo`
    fake.put("deployments", dep)
    fake.reconcile_deployment("web")  # v2's ReplicaSet becomes revision 4 (history "2")

    result = make_executor(kube).handle(command(from_revision="3")).result

    assert result.status == "already_rolled_back", result.detail
    assert fake.patches() == []


def test_crash_between_patch_and_commit_does_not_patch_twice(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor, tmp_path
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    make_executor(kube, state=tmp_path / "lost").handle(command(from_revision="3"))
    fake.reconcile_deployment("web")  # the controller acts before the executor restarts

    # restart with an empty ledger (the crash lost it): only the target can tell
    redelivered = make_executor(kube, state=tmp_path / "fresh").handle(command(from_revision="3"))

    assert redelivered.result.status == "already_rolled_back"
    assert len(fake.patches()) == 1
    assert fake.get("deployments", "web")["spec"]["template"] == pod_template("web", "v2")


def test_conflict_is_retried_after_rereading_then_succeeds(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    fake.inject("PATCH", "deployments", [409])
    sleeps = Sleeps()
    result = make_executor(kube, sleep=sleeps).handle(command(from_revision="3")).result

    assert result.status == "succeeded"
    assert result.attempts == 2
    assert [r.method for r in fake.requests if r.resource == "deployments"] == [
        "GET",
        "PATCH",
        "GET",
        "PATCH",
    ]
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.05


def test_real_resource_version_conflict_rereads_and_recomputes(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    """A write between our read and our patch makes the server answer 409 by itself."""
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    calls = {"n": 0}
    original = fake.serve

    def bump_then_serve(method, resource, *args):  # type: ignore[no-untyped-def]
        if method == "PATCH" and calls["n"] == 0:
            calls["n"] += 1
            obj = fake.objects[("deployments", "default", "web")]
            obj["metadata"]["resourceVersion"] = "999"  # a concurrent writer
        return original(method, resource, *args)

    fake.serve = bump_then_serve  # type: ignore[method-assign]
    result = make_executor(kube).handle(command(from_revision="3")).result

    assert result.status == "succeeded" and result.attempts == 2
    assert fake.get("deployments", "web")["spec"]["template"] == pod_template("web", "v2")


def test_server_errors_until_give_up_fail_and_alert(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor, receiver: Receiver
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    fake.inject("PATCH", "deployments", [500, 503, 502, 500])
    sleeps = Sleeps()
    executor = make_executor(kube, alerter=WebhookAlerter(receiver.url), sleep=sleeps)
    result = executor.handle(command(from_revision="3")).result

    assert result.status == "failed" and result.attempts == 4
    assert "gave up after 4 attempts" in result.detail
    assert fake.get("deployments", "web")["spec"]["template"] == pod_template("web", "v3")
    (alert,) = receiver.received
    body = alert.json()
    assert "web" in body["text"] and body["smartdeploy"]["status"] == "failed"
    assert body["smartdeploy"]["command_id"] == "cmd-1"
    ceilings = [0.05, 0.1, 0.2]
    assert all(0 <= s <= c for s, c in zip(sleeps, ceilings, strict=True))


def test_throttling_is_retried(fake: FakeKube, kube: Backend, make_executor: MakeExecutor) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    fake.inject("GET", "deployments", [429, 503])
    result = make_executor(kube).handle(command(from_revision="3")).result
    assert result.status == "succeeded" and result.attempts == 3


def test_forbidden_is_not_retried(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    fake.inject("PATCH", "deployments", [403])
    result = make_executor(kube).handle(command(from_revision="3")).result
    assert result.status == "failed" and result.attempts == 1 and "403" in result.detail


def test_missing_deployment_fails_without_retry(kube: Backend, make_executor: MakeExecutor) -> None:
    result = make_executor(kube).handle(command(from_revision="3")).result
    assert result.status == "failed" and result.attempts == 1 and "404" in result.detail


def test_paused_deployment_is_not_undone(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    dep = add_deployment(fake, "web", ["v1", "v2", "v3"])
    dep["spec"]["paused"] = True
    fake.put("deployments", dep)
    result = make_executor(kube).handle(command(from_revision="3")).result
    assert result.status == "failed" and "paused" in result.detail
    assert fake.patches() == []


def test_single_revision_has_nothing_to_roll_back_to(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_deployment(fake, "web", ["v1"])
    result = make_executor(kube).handle(command(from_revision="1")).result
    assert result.status == "failed" and "no revision before 1" in result.detail


def test_without_revision_the_version_decides_staleness(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_deployment(fake, "web", ["v1", "v2", "v3"])
    executor = make_executor(kube)
    stale = executor.handle(command(id="c-old", from_version="v9", to_version="v8")).result
    done = executor.handle(command(id="c-new")).result  # from v3 to v2, live is v3
    again = executor.handle(command(id="c-other")).result  # live is v2 = to_version now

    assert (stale.status, done.status, again.status) == (
        "stale",
        "succeeded",
        "already_rolled_back",
    )
    assert len(fake.patches()) == 1


def test_canary_deployment_is_scaled_to_zero(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    add_deployment(fake, "web", ["v2"])
    add_deployment(fake, "web", ["v3"], name="web-canary")
    cmd = command(strategy="canary", target={"canary_name": "web-canary"})
    executor = make_executor(kube)
    result = executor.handle(cmd).result

    assert result.status == "succeeded"
    assert fake.get("deployments", "web-canary")["spec"]["replicas"] == 0
    assert fake.get("deployments", "web")["spec"]["replicas"] == 3  # stable untouched
    (patch,) = fake.patches()
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body["spec"] == {"replicas": 0}
    repeat = make_executor(kube, state=executor.ledger.path.parent / "x").handle(cmd).result
    assert repeat.status == "already_rolled_back" and len(fake.patches()) == 1


def test_blue_green_service_selector_is_switched_back(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    fake.put(
        "services",
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web", "version": "v3"}},
        },
    )
    cmd = command(strategy="blue_green", target={"service_name": "web"})
    fake.inject("PATCH", "services", [409])
    result = make_executor(kube).handle(cmd).result

    assert result.status == "succeeded" and result.attempts == 2
    assert fake.get("services", "web")["spec"]["selector"] == {"app": "web", "version": "v2"}
    stale = (
        make_executor(kube, state=None)
        .handle(
            command(
                id="c2",
                strategy="blue_green",
                target={"service_name": "web"},
                from_version="v7",
                to_version="v6",
            )
        )
        .result
    )
    assert stale.status == "stale" and len(fake.patches("services")) == 2  # 409 + success


def test_blue_green_uses_the_previous_selector_annotation(
    fake: FakeKube, kube: Backend, make_executor: MakeExecutor
) -> None:
    fake.put(
        "services",
        {
            "metadata": {
                "name": "web",
                "namespace": "default",
                "annotations": {
                    "smartdeploy.io/previous-selector": '{"app": "web", "color": "blue"}'
                },
            },
            "spec": {"selector": {"app": "web", "color": "green"}},
        },
    )
    cmd = command(strategy="blue_green", target={"service_name": "web"}, from_version="")
    result = make_executor(kube).handle(cmd).result
    assert result.status == "succeeded"
    assert fake.get("services", "web")["spec"]["selector"] == {"app": "web", "color": "blue"}


def test_unreachable_api_server_is_retried_then_failed(make_executor: MakeExecutor) -> None:
    from executor.config import KubeConfig
    from executor.k8s_deployment import DeploymentBackend
    from executor.kube import api_client

    cfg = KubeConfig(host="http://127.0.0.1:9", request_timeout_s=2)  # nothing listens on 9
    backend = DeploymentBackend(api_client(cfg), cfg)
    result = make_executor(backend).handle(command(from_revision="3")).result
    assert result.status == "failed" and result.attempts == 4
    assert "no response" in result.detail
