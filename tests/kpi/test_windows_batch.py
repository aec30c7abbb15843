"""Batch ingest of the windows: a whole batch at once equals its series one by one."""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kpi_watch import compile_kpis
from models.policy import load_policies
from models.windows import WindowSet
from schemas import Series

T0 = 1_800_000_000_000
POLICY = load_policies(None).for_app("web")
NAMES: tuple[tuple[str, dict[str, str]], ...] = (
    ("http_requests_total", {"code": "200"}),
    ("http_requests_total", {"code": "500"}),
    ("http_request_duration_seconds_bucket", {"le": "0.1"}),
    ("http_request_duration_seconds_bucket", {"le": "+Inf"}),
    ("process_cpu_seconds_total", {}),
    ("process_resident_memory_bytes", {}),
    ("go_goroutines", {}),  # feeds no KPI
)


def windows() -> WindowSet:
    return WindowSet(POLICY, compile_kpis(POLICY))


@st.composite
def series_lists(draw: st.DrawFn) -> list[tuple[Series, str]]:
    out = []
    for _ in range(draw(st.integers(1, 12))):
        name, labels = draw(st.sampled_from(NAMES))
        pod = draw(st.sampled_from(["a", "b"]))
        n = draw(st.integers(0, 4))
        ts = [T0 + draw(st.integers(0, 120)) * 1000 for _ in range(n)]
        vals = [draw(st.one_of(st.none(), st.integers(0, 50).map(float))) for _ in range(n)]
        track = draw(st.sampled_from(["stable", "canary", "baseline"]))
        s = Series(name=name, labels={**labels, "pod": pod}, timestamps_ms=ts, values=vals)
        out.append((s, track))
    return out


def state(w: WindowSet, tick: int) -> list[object]:
    out: list[object] = [w.watermark_ms, sorted(w.track_seen_ms.items()), w.dropped_series]
    for key in sorted(w.rings, key=str):
        ring = w.rings[key]
        out.append((key, ring.epoch.tolist(), sorted(ring.cols)))
        order = [ring.cols[c] for c in sorted(ring.cols)]
        out.append((ring.sums[:, order].tolist(), ring.counts[:, order].tolist()))
    for track in ("stable", "canary", "baseline"):
        for k in w.kpis:
            for s in w.samples(track, k.index, tick, [30.0, 60.0, 600.0]):
                out.append((s.value, s.samples, s.points.tolist(), s.num, s.den))
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(series_lists(), min_size=1, max_size=4))
def test_a_batch_at_once_equals_its_series_one_by_one(batches: list) -> None:
    at_once, one_by_one = windows(), windows()
    for batch in batches:
        at_once.ingest_batch(batch)
        for item in batch:
            one_by_one.ingest_batch([item])
    tick = T0 + 125_000
    assert state(at_once, tick) == state(one_by_one, tick)


def test_counter_increases_survive_resets_late_samples_and_gaps() -> None:
    w = windows()
    req = {"code": "500", "pod": "a"}
    feed = [
        ([T0, T0 + 5000], [10.0, 14.0]),  # base 10, +4
        ([T0 + 5000, T0 + 10_000], [99.0, 2.0]),  # a repeat (not newer) is ignored; reset: +2
        ([T0 + 15_000], [None]),  # a staleness marker adds nothing
        ([T0 + 20_000], [5.0]),  # +3
    ]
    for ts, vals in feed:
        w.ingest(
            Series(name="http_requests_total", labels=req, timestamps_ms=ts, values=vals), "canary"
        )
    k = next(k for k in w.kpis if k.policy.kind == "ratio")
    s = w.sample("canary", k.index, T0 + 25_000, 60.0)
    assert (s.num, s.den, s.value) == (9.0, 9.0, 1.0)


def test_the_same_labels_in_another_order_are_the_same_series() -> None:
    w = windows()
    one = {"code": "200", "pod": "a"}
    other = {"pod": "a", "code": "200"}
    for i, labels in enumerate([one, other, one]):
        t = T0 + 5000 * i
        w.ingest(
            Series(
                name="http_requests_total", labels=labels, timestamps_ms=[t], values=[float(i * 10)]
            ),
            "stable",
        )
    k = next(k for k in w.kpis if k.policy.kind == "ratio")
    assert w.sample("stable", k.index, T0 + 15_000, 60.0).den == 20.0  # one counter: +10, +10


def test_windows_pickled_midstream_continue_identically() -> None:
    rng = np.random.default_rng(3)

    def batch(i: int) -> list[tuple[Series, str]]:
        t = [T0 + 5000 * i]
        return [
            (
                Series(
                    name=n,
                    labels={**lab, "pod": "a"},
                    timestamps_ms=t,
                    values=[float(10 * i + rng.integers(3))],
                ),
                tr,
            )
            for n, lab in NAMES
            for tr in ("stable", "canary")
        ]

    batches = [batch(i) for i in range(30)]
    straight, split = windows(), windows()
    for i, b in enumerate(batches):
        straight.ingest_batch(b)
        split.ingest_batch(b)
        if i == 12:
            split.samples("canary", 0, T0 + 65_000, [30.0])  # warm the memo before pickling
            split = pickle.loads(pickle.dumps(split))
    assert state(straight, T0 + 150_000) == state(split, T0 + 150_000)
