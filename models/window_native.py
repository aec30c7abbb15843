"""The windows' native kernels (models/_windows.c) called with a window set's arrays.

* :func:`read_spans`: a (track, KPI) of one tick over several spans, equal to
  :func:`models.kpi.evaluate_spans` on the same buckets; one call instead of ~20 numpy
  calls per (track, KPI), which also builds the KpiSamples (all kinds but gauges).
* :func:`gather`: a batch's series into route ids and sample arrays; a series seen
  before is found by its label bytes in a C table (``RouteCache``) instead of a dict
  keyed by a tuple of its label items, which cost ~1.2 us a series to build and hash.
* :func:`ingest`: a routed batch into counter state and buckets, equal to the numpy path
  of ``WindowSet.ingest_batch``; one call instead of ~40.

Equal means equal, not close (tests/kpi/test_windows_native.py runs both on the same
input). The numpy code stays the readable reference, and the fallback when the
extension is not built (``available`` is False).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from models.kpi import CompiledKpi, KpiSample, _aggregate
from models.window_routes import RouteTable
from models.window_store import Ring, Store
from schemas import Series

try:
    from models._windows import RouteCache
    from models._windows import gather as _native_gather
    from models._windows import ingest as _native_ingest
    from models._windows import samples as _native_samples
    from models._windows import spans as _native_spans
except ImportError:  # pragma: no cover - installs without a compiler use the numpy paths
    RouteCache = _native_gather = _native_ingest = _native_samples = _native_spans = None

DONE, SLOTS, COLS, DUP = 0, 1, 2, 3
KINDS = {"ratio": 0, "quantile": 1, "counter_rate": 2}
EMPTY = np.empty(0)
EMPTY_TS = np.empty(0, dtype=np.int64)

available = _native_spans is not None


def active_series(seen: np.ndarray, spans: list[float], tick_ms: int) -> list[int]:
    """Per span: the ring's series with a sample since ``tick_ms - span`` (``seen``: their
    newest sample times)."""
    since = tick_ms - np.array([int(w * 1000) for w in spans], dtype=np.int64)
    return np.count_nonzero(seen >= since[:, None], axis=1).tolist()  # type: ignore[no-any-return]


def read_spans(
    kpi: CompiledKpi,
    store: Store,
    ring: Ring,
    tick_ms: int,
    spans: list[float],
    sizes: list[int],
    res_ms: int,
    seen: np.ndarray | None,
) -> list[KpiSample]:
    """``evaluate_spans`` of the ring's columns over the buckets before ``tick_ms``.

    ``seen``: the newest sample time of each of the ring's series, for the KPIs that
    count active series (counter rates, sums); None for the others.
    """
    assert _native_spans is not None and _native_samples is not None
    p = kpi.policy
    if not ring.cols:
        return [KpiSample(None, 0, EMPTY) for _ in spans]
    m, end, res_s = max(sizes), tick_ms // res_ms - 1, res_ms / 1000
    kind = KINDS.get(p.kind, 3)
    if kind == 0 and len(ring.cols) < 2:  # no denominator yet: no value, no points
        return [KpiSample(None, 0, EMPTY, 0.0, 0.0, EMPTY, EMPTY) for _ in spans]
    rows = None
    if kind == 1:
        les, cols = ring.by_key()
        if not math.isinf(les[-1]):
            return [KpiSample(None, 0, EMPTY) for _ in spans]
        out = np.empty(m + m * len(les))
        rows = out[m:].reshape(m, len(les))
    else:
        les, cols = EMPTY, ring.index
        out = np.empty(3 * m if kind == 0 else m * (1 + len(spans)) if kind == 2 else m)
    q = float(p.quantile or 0.5)
    if kind < 3:  # the KpiSamples built in C (models/_win_samples.h)
        return _native_samples(  # type: ignore[no-any-return]
            kind, store._sums, store._counts, store.epoch, end, cols, sizes, out, q, les,
            KpiSample, spans, res_s, p.aggregate == "mean",
            EMPTY_TS if seen is None else seen, tick_ms, rows,
        )
    a, b, _, _, kept = _native_spans(
        kind, store._sums, store._counts, store.epoch, end, cols, sizes, out, q, les
    )
    means = out[:kept]
    actives = [0] * len(spans) if seen is None else active_series(seen, spans, tick_ms)
    return [
        KpiSample(_aggregate(means[kept - k :], p.aggregate, active), int(s), means[kept - k :])
        for s, k, active in zip(a, b, actives, strict=True)
    ]


def gather(
    routes: RouteTable, items: list[tuple[Series, str]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(R, L, T, V)`` of the series with samples (None: none has any).

    A series the route cache does not know is resolved by ``routes`` (its canonical,
    sorted-labels table) and then cached, like the numpy path's ``alias`` dict.
    """
    assert _native_gather is not None
    if routes.cache is None:  # also after unpickling a table saved before the cache
        routes.cache = RouteCache(4 * routes.max_series)
    r, n, t, v, misses = _native_gather(items, routes.cache)
    if not n:
        return None
    rids = np.frombuffer(r, dtype=np.int64)
    for seg, idx in misses:
        s, track = items[idx]
        rids[seg] = rid = routes.resolve(s, track, remember=False)
        routes.cache.add(s, track, rid)
    return (rids, np.frombuffer(n, dtype=np.int64), np.frombuffer(t, dtype=np.int64),
            np.frombuffer(v, dtype=float))


def ingest(
    routes: RouteTable,
    store: Store,
    res_ms: int,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    new_column: Callable[[int], None],
) -> tuple[int, tuple[int, int, int, list[int]] | None]:
    """Ingest ``(R, L, T, V)``; returns the max ts and (used, dropped series, dropped
    samples, newest ts per track code), or None when the batch has a counter series twice
    (nothing was ingested: the caller then takes it series by series, like the reference).

    Counter state and store columns are created here in Python, when the kernel asks
    for them (first sight of a series or a bucket bound), and the kernel is called again.
    """
    assert _native_ingest is not None
    rt = routes
    while True:
        res = _native_ingest(
            *arrays, rt.r_nt, rt.r_off, rt.r_counter, rt.r_csid, rt.r_track, rt.t_counter,
            rt.t_col, rt.t_ring, rt.c_known, rt.c_ts, rt.c_val, rt.seen, store.epoch,
            store._sums, store._counts, res_ms, len(rt.tracks),
        )
        status, tmax = res[0], res[1]
        if status == DONE:
            return tmax, (res[2], res[3], res[4], res[5])
        if status == DUP:
            return tmax, None
        if status == SLOTS:
            rt.counter_slots(np.asarray(res[2], dtype=np.int64))
        else:
            for tid in res[2]:
                if rt.t_col[tid] < 0:
                    new_column(tid)
