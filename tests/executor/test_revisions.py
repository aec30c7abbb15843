"""Properties of the pure undo planner over simulated Deployment histories."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from executor.revisions import plan_undo
from tests.executor.fake_kube import FakeKube, add_deployment, json_patch, pod_template

versions = st.lists(st.sampled_from(["v1", "v2", "v3", "v4", "v5"]), min_size=2, max_size=6)


def _state(fake: FakeKube) -> tuple[dict, list[dict]]:
    dep = fake.get("deployments", "web")
    rss = [o for (r, _, _), o in fake.objects.items() if r == "replicasets"]
    return dep, rss


def _history(vs: list[str]) -> list[str]:
    """Distinct consecutive versions (a redeploy of the same template makes no revision)."""
    out: list[str] = []
    for v in vs:
        if v not in out:
            out.append(v)
    return out


@given(versions)
def test_undo_then_replay_is_already_rolled_back(vs: list[str]) -> None:
    history = _history(vs)
    if len(history) < 2:
        return
    fake = FakeKube()  # never started: the planner is pure, the fake only keeps objects
    add_deployment(fake, "web", history)
    dep, rss = _state(fake)
    bad = str(len(history))
    plan = plan_undo(dep, rss, command_id="c", from_revision=bad)
    assert plan.status == "patch" and plan.to_revision == len(history) - 1
    patched = json_patch(dep, plan.patch)
    assert patched["spec"]["template"] == pod_template("web", history[-2])
    fake.put("deployments", patched)
    fake.reconcile_deployment("web")

    dep, rss = _state(fake)
    dep["metadata"]["annotations"].pop("smartdeploy.io/rollback-command")  # e.g. kubectl apply
    again = plan_undo(dep, rss, command_id="c2", from_revision=bad)
    assert again.status == "already_rolled_back", again.detail


@given(versions, st.integers(1, 5))
def test_a_command_for_another_revision_never_patches(vs: list[str], offset: int) -> None:
    history = _history(vs)
    fake = FakeKube()
    add_deployment(fake, "web", history)
    dep, rss = _state(fake)
    older = len(history) - offset
    plan = plan_undo(dep, rss, command_id="c", from_revision=str(older))
    assert plan.status == "stale" and plan.patch == []
