"""Sliding event-time windows per (deployment, track, KPI), vectorized and bounded.

Samples are summed into fixed time buckets (``resolution``) held in a ring of
``n_slots`` rows per (track, KPI); a window is a slice of consecutive buckets. Memory
per deployment is therefore fixed by the longest window and the number of KPI columns,
however many samples arrive; buckets older than the ring are overwritten and late
samples for them are dropped (counted). Counter series keep only their last sample
(to turn counters into increases), capped at ``max_series``; at most ``4 * max_series``
distinct series are routed (later ones only advance the watermark).

A whole batch is ingested at once: each series costs one dict lookup (its route — the
(KPI, column) targets it feeds — is resolved once per label set and remembered), then
timestamps and values of all series become two arrays, and counter increases, routing
and bucket sums are one call of the native kernel (models/_windows.c); a tick reads each
(track, KPI) with one more. The numpy code below computes the same (``native = False``):
it is the readable reference the kernels are tested against, and the fallback when the
extension is not built.

Routing of a series to a track (documented contract with the ingest side):

1. ``series.deployment_id`` set → that deployment, ``series.track``;
2. else a version (``series.version`` or the ``version`` label) equal to the
   deployment's new version → ``canary``; equal to its previous version → ``stable``;
3. else → the app's active deployment, ``series.track`` (``stable`` by default).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from models import window_native
from models.kpi import CompiledKpi, KpiSample, counter_increases, evaluate_spans
from models.policy import AppPolicy
from models.window_routes import RouteTable, ramp
from models.window_store import Ring, Store
from schemas import Series

Track = str


class WindowSet:
    """All windows of one deployment (or of an app between deployments).

    ``native``: ingest batches and read ticks with models/_windows.c when it is built
    (tests compare both paths).

    Routing, counter state and last-fed times are arrays in ``routes`` (see
    models/window_routes); only the per-tick sample memo is dropped when pickled.
    """

    native = True

    def __init__(self, policy: AppPolicy, kpis: list[CompiledKpi], max_series: int = 20_000):
        self.policy, self.kpis, self.max_series = policy, kpis, max_series
        self.res_ms = max(1, int(policy.resolution * 1000))
        longest = max([k.policy.window for k in kpis] + [policy.judge_window])
        self.n_slots = int(longest * 1000 // self.res_ms) + 4
        self.store = Store(self.n_slots)
        self.rings: dict[tuple[Track, int], Ring] = {}
        self.routes = RouteTable(kpis, max_series)
        self.dropped_series = 0
        self.watermark_ms = -1
        self.track_seen_ms: dict[Track, int] = {}
        # the numpy path's rows of every column ending at a bucket: (end bucket, sums, counts)
        self._block: tuple[int, np.ndarray, np.ndarray] | None = None
        self._sizes: dict[tuple[float, ...], list[int]] = {}  # spans -> rows per span

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_block": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for gone in ("_memo", "_memo_tick"):  # checkpoints from before: a per-tick memo
            state.pop(gone, None)
        self.__dict__.update({"_sizes": {}, **state})  # checkpoints from before the cache

    def nbytes(self) -> int:
        """Bytes held by the window buckets (fixed by the longest window and columns)."""
        return self.store.nbytes()

    def _ring(self, track: Track, kpi: CompiledKpi) -> Ring:
        ring = self.rings.get((track, kpi.index))
        if ring is None:
            ring = self.rings[(track, kpi.index)] = Ring(self.store)
            kind = kpi.policy.kind
            for fixed in range(2 if kind == "ratio" else 0 if kind == "quantile" else 1):
                ring.column(float(fixed))
        return ring

    # ------------------------------------------------------------------- ingest
    def ingest(self, series: Series, track: Track) -> int:
        """Add one series' samples to every KPI window it feeds; returns samples used."""
        return self.ingest_batch([(series, track)])

    def ingest_batch(self, items: Iterable[tuple[Series, Track]]) -> int:
        """Add many series (in order, as if one by one); returns finite samples routed."""
        self._block = None
        items = list(items)
        if window_native.available and self.native:
            return self._ingest_native(items)
        rt = self.routes
        alias, resolve = rt.alias, rt.resolve
        rids: list[int] = []
        lens: list[int] = []
        tsl: list[int] = []
        vl: list[float | None] = []
        for s, track in items:
            ts = s.timestamps_ms
            if not ts:
                continue
            rid = alias.get((s.name, tuple(s.labels.items()), track))
            rids.append(resolve(s, track) if rid is None else rid)
            lens.append(len(ts))
            tsl += ts
            vl += s.values
        if not rids:
            return 0
        T = np.array(tsl, dtype=np.int64)
        self.watermark_ms = max(self.watermark_ms, int(T.max()))
        R = np.array(rids, dtype=np.int64)
        if not R.any():
            return 0
        V, L = np.array(vl, dtype=float), np.array(lens, dtype=np.int64)
        seg_of = np.repeat(np.arange(len(L)), L)
        fin = np.isfinite(V)
        live = (R > 0) & (np.bincount(seg_of[fin], minlength=len(L)) > 0)
        if not live.any():
            return 0
        starts = np.cumsum(L) - L
        newest, trk = np.maximum.reduceat(T, starts), rt.r_track[R]
        for code in np.unique(trk[live]).tolist():
            t, name = int(newest[live & (trk == code)].max()), rt.tracks[code]
            if t > self.track_seen_ms.get(name, -1):
                self.track_seen_ms[name] = t
        incs, has_inc = np.zeros(len(V)), np.zeros(len(V), dtype=bool)
        cseg = live & rt.r_counter[R]
        if cseg.any():
            rt.counter_slots(R[cseg])
            csid = rt.r_csid[R]
            ids = csid[cseg & (csid >= 0)]
            if len(items) > 1 and np.unique(ids).size < ids.size:  # a series twice: in order
                return sum(self.ingest_batch([it]) for it in items)
            self.dropped_series += int((cseg & (csid < 0)).sum())
            cseg &= csid >= 0
            at = np.flatnonzero(fin & cseg[seg_of])
            cid = csid[seg_of[at]]
            kept, inc, end = counter_increases(
                seg_of[at], T[at], V[at], rt.c_known[cid], rt.c_ts[cid], rt.c_val[cid]
            )
            incs[at[kept]], has_inc[at[kept]] = inc, True
            rt.c_ts[cid[end]], rt.c_val[cid[end]] = T[at[end]], V[at[end]]
            rt.c_known[cid[end]] = True
        self._add_pairs(np.flatnonzero(live), R, L, starts, T, V, fin, incs, has_inc)
        return int(fin[live[seg_of]].sum())

    def _ingest_native(self, items: list[tuple[Series, Track]]) -> int:
        """``ingest_batch`` by the native kernels (models/_windows.c): the same effects."""
        arrays = window_native.gather(self.routes, items)
        if arrays is None:
            return 0
        tmax, done = window_native.ingest(
            self.routes, self.store, self.res_ms, arrays, self._new_column
        )
        self.watermark_ms = max(self.watermark_ms, tmax)
        if done is None:  # a counter series twice: in order, like the numpy path
            return sum(self.ingest_batch([it]) for it in items)
        used, dropped_series, dropped, newest = done
        self.dropped_series += dropped_series
        self.store.dropped += dropped
        for code, t in enumerate(newest):
            name = self.routes.tracks[code]
            if t > self.track_seen_ms.get(name, -1):
                self.track_seen_ms[name] = t
        return used

    def _new_column(self, tid: int) -> None:
        """Give a (KPI, column) target its store column, on its first data."""
        rt = self.routes
        track, kpi_idx = rt.ring_keys[int(rt.t_ring[tid])]
        ring = self._ring(track, self.kpis[kpi_idx])
        rt.t_col[tid] = ring.column(rt.t_key[tid])

    def _add_pairs(
        self,
        segs: np.ndarray,
        R: np.ndarray,
        L: np.ndarray,
        starts: np.ndarray,
        T: np.ndarray,
        V: np.ndarray,
        fin: np.ndarray,
        incs: np.ndarray,
        has_inc: np.ndarray,
    ) -> None:
        """Expand (series, target) pairs to samples and add them to their rings."""
        rt = self.routes
        nt = rt.r_nt[R[segs]]
        pseg = np.repeat(segs, nt)
        ptid = np.repeat(rt.r_off[R[segs]], nt) + ramp(nt)
        plen = L[pseg]
        pair = np.repeat(np.arange(len(pseg)), plen)
        at = np.repeat(starts[pseg], plen) + ramp(plen)
        counter = rt.t_counter[ptid][pair]
        valid = np.where(counter, has_inc[at], fin[at])
        if not valid.any():
            return
        pair, at = pair[valid], at[valid]
        vals = np.where(counter[valid], incs[at], V[at])
        fed = np.unique(pair)
        for p in fed[rt.t_col[ptid[fed]] < 0].tolist():  # first data for a column
            self._new_column(int(ptid[p]))
        last = np.ones(len(pair), dtype=bool)
        last[:-1] = pair[:-1] != pair[1:]
        rt.seen[rt.t_ring[ptid[pair[last]]], R[pseg[pair[last]]]] = T[at[last]]
        self.store.add(rt.t_col[ptid[pair]], T[at] // self.res_ms, vals)

    # --------------------------------------------------------------------- read
    def sample(self, track: Track, kpi_idx: int, tick_ms: int, window_s: float) -> KpiSample:
        """The KPI over buckets ending before ``tick_ms`` spanning ``window_s``."""
        return self.samples(track, kpi_idx, tick_ms, [window_s])[0]

    def samples(
        self, track: Track, kpi_idx: int, tick_ms: int, spans: list[float]
    ) -> list[KpiSample]:
        """The KPI over several spans ending at ``tick_ms`` (one read of the ring).

        A span listed twice is read once (and is the same object twice).
        """
        uniq = list(dict.fromkeys(spans))
        got = self._compute(track, kpi_idx, tick_ms, uniq)
        if len(uniq) == len(spans):
            return got
        by_span = dict(zip(uniq, got, strict=True))
        return [by_span[w] for w in spans]

    def _compute(
        self, track: Track, kpi_idx: int, tick_ms: int, spans: list[float]
    ) -> list[KpiSample]:
        kpi = self.kpis[kpi_idx]
        ring = self.rings.get((track, kpi_idx))
        if ring is None:
            return [KpiSample(None, 0, np.empty(0)) for _ in spans]
        n = self.store.n
        sizes = self._sizes.get(key := tuple(spans))
        if sizes is None:  # a tick asks for the same few span lists: computed once
            sizes = [min(max(1, int(round(w * 1000 / self.res_ms))), n) for w in spans]
            self._sizes[key] = sizes
        seen = None
        if kpi.policy.kind == "counter_rate" or kpi.policy.aggregate == "sum":
            rt = self.routes
            seen = rt.seen[rt.ring_code(track, kpi_idx), : rt.n_routes]
        if window_native.available and self.native:
            store, res_ms = self.store, self.res_ms
            return window_native.read_spans(kpi, store, ring, tick_ms, spans, sizes, res_ms, seen)
        actives = [0] * len(spans)
        if seen is not None:
            actives = window_native.active_series(seen, spans, tick_ms)
        res_s, end = self.res_ms / 1000, tick_ms // self.res_ms - 1
        if self._block is None or self._block[0] != end:  # gathered once a tick (or ingest)
            self._block = (end, *self.store.rows(end, n))
        rows = slice(n - max(sizes), n)
        sums, counts = self._block[1][rows, ring.index], self._block[2][rows, ring.index]
        return evaluate_spans(kpi, sums, counts, list(ring.cols), spans, sizes, res_s, actives)

    def has_track(self, track: Track, since_ms: int = -1) -> bool:
        """True when the track had KPI samples at or after ``since_ms``."""
        return self.track_seen_ms.get(track, -2) >= since_ms
