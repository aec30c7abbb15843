"""Hypothesis invariants of the guard: missing data, holds, forced rollbacks, replay."""

from __future__ import annotations

import pickle

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.guard import DeploymentGuard
from models.policy import load_policies
from schemas import MetricBatch, RollbackCommand, Series
from tests.kpi.factory import T0_MS, Fleet, TrackLoad, at, drive, lifecycle, of_type, override

POLICIES = load_policies(None)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

loads = st.builds(
    TrackLoad,
    rps=st.floats(0.0, 200.0),
    error_rate=st.floats(0.0, 1.0),
    latency_s=st.floats(0.001, 5.0),
    cpu=st.floats(0.0, 4.0),
    memory=st.floats(1e6, 4e9),
    pods=st.integers(1, 4),
)


def started() -> DeploymentGuard:
    g = DeploymentGuard(POLICIES)
    for ev in lifecycle():
        g.on_deploy_event(ev)
    return g


def broken_batch(i: int, kind: int, values: list[float | None]) -> MetricBatch:
    """Canary series that carry no usable data: stale markers, NaN-free garbage, or nothing."""
    ts = [T0_MS + 5000 * (i * len(values) + j + 1) for j in range(len(values))]
    names = ["http_requests_total", "http_request_duration_seconds_bucket", "unrelated_metric"]
    labels = [{"code": "500"}, {"le": "bogus"}, {}][kind]
    s = Series(
        name=names[kind],
        labels=labels,
        deployment_id="d1",
        track="canary",
        timestamps_ms=ts,
        values=values,
    )
    return MetricBatch(id=f"b{i}", occurred_at=at(ts[-1]), app="web", series=[s])


@SETTINGS
@given(
    baseline=loads,
    batches=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.lists(st.one_of(st.none(), st.floats(0, 1e9)), min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_inconclusive_data_alone_never_yields_a_rollback(
    baseline: TrackLoad, batches: list
) -> None:
    g = started()
    f = Fleet()
    out = []
    for i, (kind, values) in enumerate(batches):
        out += g.on_metrics(broken_batch(i, kind, [None if kind == 0 else v for v in values]))
        out += g.on_metrics(f.scrape(T0_MS + 5000 * (i * 6 + 1), {"baseline": baseline}, 6))
    assert of_type(out, "RollbackCommand") == []
    assert all(
        v.state in ("inconclusive", "error")  # type: ignore[attr-defined]
        for v in of_type(out, "Verdict")
    )


@SETTINGS
@given(canary=loads, base=loads, n=st.integers(5, 60), hold_at=st.integers(0, 30))
def test_hold_always_blocks_automated_rollback(
    canary: TrackLoad, base: TrackLoad, n: int, hold_at: int
) -> None:
    g = started()
    f = Fleet()
    out = drive(g, f, {"baseline": base}, T0_MS + 5000, hold_at) if hold_at else []
    pre = of_type(out, "RollbackCommand")
    g.on_override(override("d1", "hold", T0_MS + 5000 * (hold_at + 1) - 1))
    out = drive(g, f, {"baseline": base, "canary": canary}, T0_MS + 5000 * (hold_at + 1), n)
    assert pre or of_type(out, "RollbackCommand") == []
    assert all(v.held for v in of_type(out, "Verdict"))  # type: ignore[attr-defined]


@SETTINGS
@given(
    canary=loads,
    base=loads,
    n=st.integers(0, 40),
    held=st.booleans(),
    actor=st.text(min_size=1, max_size=20).filter(str.strip),
)
def test_forced_rollback_always_goes(
    canary: TrackLoad, base: TrackLoad, n: int, held: bool, actor: str
) -> None:
    g = started()
    if held:
        g.on_override(override("d1", "hold", T0_MS + 1))
    drive(g, Fleet(), {"baseline": base, "canary": canary}, T0_MS + 5000, n)
    out = g.on_override(override("d1", "force_rollback", T0_MS + 5000 * (n + 2), actor=actor))
    (rb,) = of_type(out, "RollbackCommand")
    assert isinstance(rb, RollbackCommand)
    assert rb.forced and rb.requested_by == actor and rb.deployment_id == "d1"


@SETTINGS
@given(
    canary=loads,
    base=loads,
    n=st.integers(1, 60),
    per_batch=st.integers(1, 5),
    cut=st.integers(0, 60),
    seed=st.integers(0, 1000),
)
def test_replay_gives_the_same_outputs_as_live(
    canary: TrackLoad, base: TrackLoad, n: int, per_batch: int, cut: int, seed: int
) -> None:
    loadset = {"baseline": base, "canary": canary}
    batches = []
    f = Fleet(seed=seed)
    for i in range(0, n, per_batch):
        batches.append(f.scrape(T0_MS + 5000 * (i + 1), loadset, min(per_batch, n - i)))

    def run(restart_at: int | None) -> list[str]:
        g = started()
        out = []
        for i, b in enumerate(batches):
            if i == restart_at:
                g = pickle.loads(pickle.dumps(g))  # a worker restart from its checkpoint
            out += g.on_metrics(b)
        return [o.model_dump_json() for o in out]

    live = run(None)
    assert run(None) == live
    assert run(cut % max(len(batches), 1)) == live
