"""The windows' native kernels (models/_windows.c) called with a window set's arrays.

* :func:`read_spans`: a (track, KPI) of one tick over several spans, equal to
  :func:`models.kpi.evaluate_spans` on the same buckets; one call instead of ~20 numpy
  calls per (track, KPI).
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
    from models._windows import spans as _native_spans
except ImportError:  # pragma: no cover - installs without a compiler use the numpy paths
    RouteCache = _native_gather = _native_ingest = _native_spans = None

DONE, SLOTS, COLS, DUP = 0, 1, 2, 3
KINDS = {"ratio": 0, "quantile": 1, "counter_rate": 2}
EMPTY = np.empty(0)

available = _native_spans is not None


def read_spans(
    kpi: CompiledKpi,
    store: Store,
    ring: Ring,
    end_bucket: int,
    spans: list[float],
    sizes: list[int],
    res_s: float,
    n_series: list[int],
) -> list[KpiSample]:
    """``evaluate_spans`` of the ring's columns over the rows ending at ``end_bucket``."""
    assert _native_spans is not None
    p = kpi.policy
    if not ring.cols:
        return [KpiSample(None, 0, EMPTY) for _ in spans]
    m = max(sizes)
    kind = KINDS.get(p.kind, 3)
    if kind == 0 and len(ring.cols) < 2:  # no denominator yet: no value, no points
        return [KpiSample(None, 0, EMPTY, 0.0, 0.0, EMPTY, EMPTY) for _ in spans]
    if kind == 1:
        les, cols = ring.by_key()
        if not math.isinf(les[-1]):
            return [KpiSample(None, 0, EMPTY) for _ in spans]
        out = np.empty(m + m * len(les))
    else:
        les, cols = EMPTY, ring.index
        out = np.empty(3 * m if kind == 0 else m)
    a, b, c, d, kept = _native_spans(
        kind, store._sums, store._counts, store.epoch, end_bucket, cols, sizes, out,
        float(p.quantile or 0.5), les,
    )
    if kind == 0:
        pts, num, den = out[:kept], out[m : m + kept], out[2 * m : 2 * m + kept]
        return [
            KpiSample(tn / td if td > 0 else None, int(s), pts[kept - k :], tn, td,
                      num[kept - k :], den[kept - k :])
            for tn, td, s, k in zip(a, b, c, d, strict=True)
        ]
    if kind == 1:
        pts, rows = out[:kept], out[m:].reshape(m, len(les))
        return [
            KpiSample(None if math.isnan(v) else v, int(s), pts[kept - k :], bounds=les,
                      hist=rows[m - n :])
            for v, s, k, n in zip(a, b, c, sizes, strict=True)
        ]
    if kind == 2:
        rates = out[:kept] / res_s
        samples_out = []
        for w, total, s, k, first, active in zip(spans, a, b, c, d, n_series, strict=True):
            per = max(active, 1) if p.aggregate == "mean" else 1
            span = first * res_s if first >= 0 else w
            value = total / span / per if s else None
            samples_out.append(
                KpiSample(value, int(s), rates[kept - k :] / per, total, float(max(active, 1)))
            )
        return samples_out
    means = out[:kept]
    return [
        KpiSample(_aggregate(means[kept - k :], p.aggregate, active), int(s), means[kept - k :])
        for s, k, active in zip(a, b, n_series, strict=True)
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
