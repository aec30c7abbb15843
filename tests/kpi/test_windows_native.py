"""The windows' native kernels (models/_windows.c) equal the numpy reference paths.

Equal, not close: both sum in the same order, so every state array, return value and
tick read is compared with ``==``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import window_native
from models.kpi_watch import compile_kpis
from models.policy import AppPolicy, build_policies, load_policies
from models.windows import WindowSet
from schemas import Series

T0 = 1_800_000_000_000
POLICY = load_policies(None).for_app("web")
SUMS = build_policies({"defaults": {"kpis": [  # per-series sums: the other actives paths
    {"name": "cpu", "aggregate": "sum"}, {"name": "memory", "aggregate": "sum"}]}}).default
LES = ("0.05", "0.1", "0.5", "1", "+Inf")
NAMES: tuple[tuple[str, dict[str, str]], ...] = (
    ("http_requests_total", {"code": "200"}),
    ("http_requests_total", {"code": "503"}),
    *(("http_request_duration_seconds_bucket", {"le": le}) for le in LES),
    ("process_cpu_seconds_total", {}),
    ("process_resident_memory_bytes", {}),
    ("go_goroutines", {}),  # feeds no KPI
)
VALUE = st.one_of(
    st.none(),
    st.integers(0, 60).map(float),
    st.floats(0, 1e3, allow_nan=False),
    st.just(float("nan")),
    st.just(float("inf")),
)



def test_the_native_kernels_are_built() -> None:
    """Every other test here compares them with the numpy paths: they must be there."""
    assert window_native.available


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[Series, str]]:
    """Series in any order: repeats, resets, gaps, samples older than the ring, NaN, inf."""
    out = []
    base = draw(st.integers(0, 900))
    for _ in range(draw(st.integers(1, 14))):
        name, labels = draw(st.sampled_from(NAMES))
        n = draw(st.integers(0, 5))
        ts = [T0 + (base + draw(st.integers(-700, 60))) * 1000 + draw(st.integers(0, 999))
              for _ in range(n)]
        vals = [draw(VALUE) for _ in range(n)]
        labels = {**labels, "pod": draw(st.sampled_from(["a", "b"]))}
        track = draw(st.sampled_from(["stable", "canary", "baseline"]))
        out.append((Series(name=name, labels=labels, timestamps_ms=ts, values=vals), track))
    return out


def pair(policy: AppPolicy = POLICY) -> tuple[WindowSet, WindowSet]:
    ref, fast = WindowSet(policy, compile_kpis(policy)), WindowSet(policy, compile_kpis(policy))
    ref.native = False
    return ref, fast


def state(w: WindowSet) -> list[object]:
    rt, store = w.routes, w.store
    out: list[object] = [w.watermark_ms, sorted(w.track_seen_ms.items()), w.dropped_series]
    out += [store.epoch.tolist(), store.dropped, store.width]
    out += [store.sums.tolist(), store.counts.tolist()]
    out += [rt.c_ts.tolist(), rt.c_val.tolist(), rt.c_known.tolist(), rt.seen.tolist()]
    rings = sorted((str(k), r.cols) for k, r in w.rings.items())
    out += [rt.r_csid.tolist(), rt.t_col.tolist(), rings]
    return out


def reads(w: WindowSet, tick: int) -> list[object]:
    out: list[object] = []
    for track in ("stable", "canary", "baseline"):
        for k in w.kpis:
            for s in w.samples(track, k.index, tick, [5.0, 30.0, 60.0, 300.0, 600.0]):
                out.append((s.value, s.samples, s.points.tolist(), s.num, s.den))
                for a in (s.num_points, s.den_points, s.bounds, s.hist):
                    out.append(None if a is None else a.tolist())
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(batches(), min_size=1, max_size=5), st.integers(-30, 90), st.booleans())
def test_native_ingest_and_reads_equal_the_numpy_reference(
    feed: list, tick_s: int, sums: bool
) -> None:
    ref, fast = pair(SUMS if sums else POLICY)
    for batch in feed:
        assert ref.ingest_batch(batch) == fast.ingest_batch(batch)
        assert state(ref) == state(fast)
    tick = (max(ref.watermark_ms, T0) // 5000 + tick_s // 5) * 5000
    assert reads(ref, tick) == reads(fast, tick)


def test_a_counter_series_twice_in_a_batch_is_taken_in_order() -> None:
    ref, fast = pair()
    s = {"code": "503", "pod": "a"}
    batch = [
        (Series(name="http_requests_total", labels=s, timestamps_ms=[T0, T0 + 5000],
                values=[1.0, 4.0]), "canary"),
        (Series(name="http_requests_total", labels=s, timestamps_ms=[T0 + 10_000],
                values=[2.0]), "canary"),  # a reset after the first part
    ]
    assert ref.ingest_batch(batch) == fast.ingest_batch(batch) == 3
    assert state(ref) == state(fast)
    assert fast.routes.c_val[fast.routes.r_csid[1]] == 2.0


def test_the_kernels_reject_arrays_that_do_not_fit() -> None:
    from models._windows import ingest, spans

    w = WindowSet(POLICY, compile_kpis(POLICY))
    w.ingest_batch([(Series(name="process_resident_memory_bytes", labels={"pod": "a"},
                            timestamps_ms=[T0], values=[1.0]), "stable")])
    ring = next(iter(w.rings.values()))
    store, sizes = w.store, np.array([4], dtype=np.int64)
    with pytest.raises(ValueError, match="span size"):
        spans(3, store._sums, store._counts, store.epoch, 0, ring.index,
              np.array([store.n + 1], dtype=np.int64), np.empty(store.n + 1), 0.5, np.empty(0))
    with pytest.raises(ValueError, match="out is too small"):
        spans(3, store._sums, store._counts, store.epoch, 0, ring.index, sizes, np.empty(1),
              0.5, np.empty(0))
    with pytest.raises(TypeError, match="dtype"):
        spans(3, store._sums, store._counts, store.epoch.astype(np.int32), 0, ring.index,
              sizes, np.empty(4), 0.5, np.empty(0))
    rt = w.routes
    one = np.array([1], dtype=np.int64)
    args = [rt.r_nt, rt.r_off, rt.r_counter, rt.r_csid, rt.r_track, rt.t_counter, rt.t_col,
            rt.t_ring, rt.c_known, rt.c_ts, rt.c_val, rt.seen, store.epoch, store._sums,
            store._counts, w.res_ms, len(rt.tracks)]
    with pytest.raises(ValueError, match="route id"):
        ingest(np.array([10**6], dtype=np.int64), one, np.array([T0], dtype=np.int64),
               np.ones(1), *args)
    with pytest.raises(ValueError, match="inconsistent"):
        ingest(one, np.array([2], dtype=np.int64), np.array([T0], dtype=np.int64),
               np.ones(1), *args)


def _batch(order: int = 0) -> list[tuple[Series, str]]:
    out = []
    for code in ("200", "503"):
        for pod in ("a", "b"):
            labels = {"code": code, "pod": pod, "handler": "/"}
            if order:
                labels = dict(reversed(labels.items()))
            out.append((Series(name="http_requests_total", labels=labels,
                               timestamps_ms=[T0 + 1000 * order], values=[float(order)]),
                        "canary"))
    out.append((Series(name="go_goroutines", labels={"pod": "a"}, timestamps_ms=[T0],
                       values=[1.0]), "canary"))  # feeds no KPI: cached as route 0
    out.append((Series(name="go_goroutines", labels={"pod": "b"}, timestamps_ms=[],
                       values=[]), "canary"))  # no samples: not routed at all
    return out


def test_a_series_seen_before_is_routed_from_the_cache_by_its_labels_as_sent() -> None:
    ref, fast = pair()
    for order in (0, 0, 1):  # the same batch twice, then its labels in another order
        assert ref.ingest_batch(_batch(order)) == fast.ingest_batch(_batch(order))
        assert state(ref) == state(fast)
    cache = fast.routes.cache
    # the second batch, every series with samples; the third, the one-label series
    assert cache.hits() == 5 + 1
    assert cache.size() == 5 + 4  # label order as sent is part of the key...
    assert fast.routes.n_routes == 5  # ...but reordered labels are the same routes
    assert fast.routes.alias == {}  # the dict the cache replaces stays empty


def test_the_route_cache_is_bounded_and_pickles_empty() -> None:
    import pickle

    ref = WindowSet(POLICY, compile_kpis(POLICY), max_series=1)
    fast = WindowSet(POLICY, compile_kpis(POLICY), max_series=1)
    ref.native = False
    for order in (0, 1, 2):
        assert ref.ingest_batch(_batch(order)) == fast.ingest_batch(_batch(order))
        assert state(ref) == state(fast)
    assert fast.routes.cache.size() == 4  # 4 * max_series
    ref, fast = pickle.loads(pickle.dumps(ref)), pickle.loads(pickle.dumps(fast))
    assert fast.routes.cache.size() == 0
    for order in (3, 4):
        assert ref.ingest_batch(_batch(order)) == fast.ingest_batch(_batch(order))
        assert state(ref) == state(fast)


def test_gather_rejects_items_that_are_not_series_and_track() -> None:
    from types import SimpleNamespace

    from models._windows import RouteCache, gather

    with pytest.raises(TypeError, match="tuples"):
        gather([Series(name="x", labels={}, timestamps_ms=[1], values=[1.0])], RouteCache(8))
    odd = SimpleNamespace(name="x", labels={}, timestamps_ms=[1, 2], values=[1.0])
    with pytest.raises(ValueError, match="differ in length"):
        gather([(odd, "canary")], RouteCache(8))
    bad = SimpleNamespace(name="x", labels={"a": 1}, timestamps_ms=[1], values=[1.0])
    with pytest.raises(TypeError, match="str"):
        gather([(bad, "canary")], RouteCache(8))


def test_labels_with_lone_surrogates_are_routed_like_any_other() -> None:
    ref, fast = pair()
    for code in ("5\udc80", "5\udc81", "5\udc80"):  # not valid UTF-8; Python allows them
        batch = [(Series(name="http_requests_total", labels={"code": code, "pod": "a"},
                         timestamps_ms=[T0 + 5000], values=[3.0]), "canary")]
        assert ref.ingest_batch(batch) == fast.ingest_batch(batch)
        assert state(ref) == state(fast)
    assert fast.routes.cache.size() == 2 and fast.routes.cache.hits() == 1
