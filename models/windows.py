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
timestamps and values of all series become two numpy arrays and counter increases,
routing and bucket sums are array operations (see ``ingest_batch``).

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

from models.kpi import CompiledKpi, KpiSample, counter_increases, evaluate_spans
from models.policy import AppPolicy
from schemas import Series

Track = str
_NO_TS = np.iinfo(np.int64).min


def _ramp(k: np.ndarray) -> np.ndarray:
    """``0..k[i]-1`` for each group, concatenated.

    >>> _ramp(np.array([2, 0, 3])).tolist()
    [0, 1, 0, 1, 2]
    """
    ends = np.cumsum(k)
    return np.arange(int(ends[-1]) if k.size else 0) - np.repeat(ends - k, k)


def _grown(arr: np.ndarray, n: int, fill: Any) -> np.ndarray:
    """``arr`` with room for index ``n`` (capacity doubles; new cells hold ``fill``)."""
    if n < arr.shape[-1]:
        return arr
    out = np.full((*arr.shape[:-1], max(2 * len(arr), n + 1)), fill, dtype=arr.dtype)
    out[..., : arr.shape[-1]] = arr
    return out


class Ring:
    """Bucketed sums and counts for one (track, KPI), ``n_slots`` buckets × columns."""

    def __init__(self, n_slots: int) -> None:
        self.n = n_slots
        self.epoch = np.full(n_slots, -1, dtype=np.int64)
        self.cols: dict[float, int] = {}
        self.sums = np.zeros((n_slots, 0))
        self.counts = np.zeros((n_slots, 0))
        self.dropped = 0

    def column(self, key: float) -> int:
        col = self.cols.get(key)
        if col is None:
            col = self.cols[key] = len(self.cols)
            self.sums = np.hstack([self.sums, np.zeros((self.n, 1))])
            self.counts = np.hstack([self.counts, np.zeros((self.n, 1))])
        return col

    def add(self, cols: np.ndarray, buckets: np.ndarray, values: np.ndarray) -> None:
        """Add values at (column, absolute bucket); newer buckets evict what their slot held."""
        slots = buckets % self.n
        newest = self.epoch.copy()
        np.maximum.at(newest, slots, buckets)
        moved = newest != self.epoch
        if moved.any():
            self.sums[moved] = 0.0
            self.counts[moved] = 0.0
            self.epoch = newest
        ok = self.epoch[slots] == buckets
        if not ok.all():
            self.dropped += int((~ok).sum())
            slots, cols, values = slots[ok], cols[ok], values[ok]
        width = self.sums.shape[1]
        cells = slots * width + cols
        size = self.n * width
        self.sums += np.bincount(cells, weights=values, minlength=size).reshape(self.n, width)
        self.counts += np.bincount(cells, minlength=size).reshape(self.n, width)

    def rows(self, end_bucket: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of buckets ``end_bucket-n+1 .. end_bucket`` (oldest first); absent = 0."""
        wanted = np.arange(end_bucket - n + 1, end_bucket + 1, dtype=np.int64)
        slots = wanted % self.n
        present = (self.epoch[slots] == wanted)[:, None]
        return self.sums[slots] * present, self.counts[slots] * present


class WindowSet:
    """All windows of one deployment (or of an app between deployments).

    Routes (``rid``, per series × track; 0 = feeds nothing) and their targets (``tid``,
    one per KPI column fed) live in parallel numpy tables so a batch is routed by
    indexing; counter state (``_c_*``) and when each series last fed each ring
    (``_seen``: ring code × rid) are arrays too. Only the per-tick sample memo is
    dropped when pickled.
    """

    def __init__(self, policy: AppPolicy, kpis: list[CompiledKpi], max_series: int = 20_000):
        self.policy, self.kpis, self.max_series = policy, kpis, max_series
        self.res_ms = max(1, int(policy.resolution * 1000))
        longest = max([k.policy.window for k in kpis] + [policy.judge_window])
        self.n_slots = int(longest * 1000 // self.res_ms) + 4
        self.rings: dict[tuple[Track, int], Ring] = {}
        self.dropped_series = 0
        self.watermark_ms = -1
        self.track_seen_ms: dict[Track, int] = {}
        self._alias: dict[tuple[Any, ...], int] = {}  # (name, labels as sent, track) → rid
        self._canon: dict[tuple[Any, ...], int] = {}  # (name, sorted labels, track) → rid
        self._tracks: list[Track] = []
        self._ring_keys: list[tuple[Track, int]] = []  # ring code → (track, KPI index)
        self._nr, self._nt, self._nc = 1, 0, 0
        self._r_off = np.zeros(64, dtype=np.int64)
        self._r_nt = np.zeros(64, dtype=np.int64)
        self._r_track = np.zeros(64, dtype=np.int64)
        self._r_counter = np.zeros(64, dtype=bool)
        self._r_csid = np.full(64, -1, dtype=np.int64)  # -2: not assigned yet
        self._t_ring = np.zeros(64, dtype=np.int64)
        self._t_col = np.full(64, -1, dtype=np.int64)  # -1: column not created yet
        self._t_counter = np.zeros(64, dtype=bool)
        self._t_key: list[float] = []
        self._c_ts = np.zeros(64, dtype=np.int64)
        self._c_val = np.zeros(64)
        self._c_known = np.zeros(64, dtype=bool)
        self._seen = np.full((0, 64), _NO_TS, dtype=np.int64)
        self._memo: dict[tuple[Track, int, float], KpiSample] = {}
        self._memo_tick = -1

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_memo": {}, "_memo_tick": -1}

    # ------------------------------------------------------------------ routing
    def _ring_code(self, track: Track, kpi_idx: int) -> int:
        if track not in self._tracks:
            self._tracks.append(track)
            self._ring_keys += [(track, k.index) for k in self.kpis]
            self._seen = np.vstack([self._seen, np.full((len(self.kpis), self._seen.shape[1]), _NO_TS)])
        return self._tracks.index(track) * len(self.kpis) + kpi_idx

    def _resolve(self, series: Series, track: Track) -> int:
        """The route id of a series not seen with these labels as sent (0 = feeds nothing)."""
        name, labels = series.name, series.labels
        canon = (name, tuple(sorted(labels.items())), track)
        rid = self._canon.get(canon)
        if rid is None:
            targets = [(k, col) for k in self.kpis for col in k.columns(name, labels)]
            rid = 0
            if targets and len(self._canon) < 4 * self.max_series:
                rid = self._canon[canon] = self._add_route(track, targets)
        if len(self._alias) < 4 * self.max_series:
            self._alias[(name, tuple(labels.items()), track)] = rid
        return rid

    def _add_route(self, track: Track, targets: list[tuple[CompiledKpi, float | int]]) -> int:
        rid, t0 = self._nr, self._nt
        self._nr, self._nt = rid + 1, t0 + len(targets)
        self._r_off, self._r_nt = _grown(self._r_off, rid, 0), _grown(self._r_nt, rid, 0)
        self._r_track, self._r_counter = _grown(self._r_track, rid, 0), _grown(self._r_counter, rid, 0)
        self._r_csid, self._seen = _grown(self._r_csid, rid, -1), _grown(self._seen, rid, _NO_TS)
        self._r_off[rid], self._r_nt[rid] = t0, len(targets)
        self._r_track[rid] = self._ring_code(track, 0) // len(self.kpis)
        self._r_counter[rid] = any(k.counter for k, _ in targets)
        self._r_csid[rid] = -2 if self._r_counter[rid] else -1
        self._t_ring, self._t_col = _grown(self._t_ring, self._nt, 0), _grown(self._t_col, self._nt, -1)
        self._t_counter = _grown(self._t_counter, self._nt, False)
        for tid, (k, col) in enumerate(targets, t0):
            self._t_ring[tid] = self._ring_code(track, k.index)
            self._t_counter[tid] = k.counter
            self._t_key.append(float(col))
        return rid

    def _ring(self, track: Track, kpi: CompiledKpi) -> Ring:
        ring = self.rings.get((track, kpi.index))
        if ring is None:
            ring = self.rings[(track, kpi.index)] = Ring(self.n_slots)
            kind = kpi.policy.kind
            for fixed in range(2 if kind == "ratio" else 0 if kind == "quantile" else 1):
                ring.column(float(fixed))
        return ring

    def _counter_slots(self, rids: np.ndarray) -> None:
        """Give counter state to series feeding a counter for the first time (capped)."""
        for rid in rids[self._r_csid[rids] == -2].tolist():
            if self._r_csid[rid] != -2:
                continue
            if self._nc >= self.max_series:
                self._r_csid[rid] = -1
                continue
            self._r_csid[rid], self._nc = self._nc, self._nc + 1
            self._c_ts, self._c_val = _grown(self._c_ts, self._nc, 0), _grown(self._c_val, self._nc, 0.0)
            self._c_known = _grown(self._c_known, self._nc, False)

    # ------------------------------------------------------------------- ingest
    def ingest(self, series: Series, track: Track) -> int:
        """Add one series' samples to every KPI window it feeds; returns samples used."""
        return self.ingest_batch([(series, track)])

    def ingest_batch(self, items: Iterable[tuple[Series, Track]]) -> int:
        """Add many series (in order, as if one by one); returns finite samples routed."""
        self._memo.clear()
        items = list(items)
        alias, resolve = self._alias, self._resolve
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
        newest, trk = np.maximum.reduceat(T, starts), self._r_track[R]
        for code in np.unique(trk[live]).tolist():
            t, name = int(newest[live & (trk == code)].max()), self._tracks[code]
            if t > self.track_seen_ms.get(name, -1):
                self.track_seen_ms[name] = t
        incs, has_inc = np.zeros(len(V)), np.zeros(len(V), dtype=bool)
        cseg = live & self._r_counter[R]
        if cseg.any():
            self._counter_slots(R[cseg])
            csid = self._r_csid[R]
            ids = csid[cseg & (csid >= 0)]
            if len(items) > 1 and np.unique(ids).size < ids.size:  # a series twice: in order
                return sum(self.ingest_batch([it]) for it in items)
            self.dropped_series += int((cseg & (csid < 0)).sum())
            cseg &= csid >= 0
            at = np.flatnonzero(fin & cseg[seg_of])
            cid = csid[seg_of[at]]
            kept, inc, end = counter_increases(
                seg_of[at], T[at], V[at], self._c_known[cid], self._c_ts[cid], self._c_val[cid]
            )
            incs[at[kept]], has_inc[at[kept]] = inc, True
            self._c_ts[cid[end]], self._c_val[cid[end]] = T[at[end]], V[at[end]]
            self._c_known[cid[end]] = True
        self._add_pairs(np.flatnonzero(live), R, L, starts, T, V, fin, incs, has_inc)
        return int(fin[live[seg_of]].sum())

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
        nt = self._r_nt[R[segs]]
        pseg = np.repeat(segs, nt)
        ptid = np.repeat(self._r_off[R[segs]], nt) + _ramp(nt)
        plen = L[pseg]
        pair = np.repeat(np.arange(len(pseg)), plen)
        at = np.repeat(starts[pseg], plen) + _ramp(plen)
        counter = self._t_counter[ptid][pair]
        valid = np.where(counter, has_inc[at], fin[at])
        if not valid.any():
            return
        pair, at = pair[valid], at[valid]
        vals = np.where(counter[valid], incs[at], V[at])
        fed = np.unique(pair)
        for p in fed[self._t_col[ptid[fed]] < 0].tolist():  # first data for a column
            tid = int(ptid[p])
            track, kpi_idx = self._ring_keys[int(self._t_ring[tid])]
            ring = self._ring(track, self.kpis[kpi_idx])
            self._t_col[tid] = ring.column(self._t_key[tid])
        last = np.ones(len(pair), dtype=bool)
        last[:-1] = pair[:-1] != pair[1:]
        self._seen[self._t_ring[ptid[pair[last]]], R[pseg[pair[last]]]] = T[at[last]]
        codes, cols, buckets = self._t_ring[ptid[pair]], self._t_col[ptid[pair]], T[at] // self.res_ms
        for code in np.unique(codes).tolist():
            m = codes == code
            track, kpi_idx = self._ring_keys[code]
            self.rings[(track, kpi_idx)].add(cols[m], buckets[m], vals[m])

    # --------------------------------------------------------------------- read
    def sample(self, track: Track, kpi_idx: int, tick_ms: int, window_s: float) -> KpiSample:
        """The KPI over buckets ending before ``tick_ms`` spanning ``window_s``."""
        return self.samples(track, kpi_idx, tick_ms, [window_s])[0]

    def samples(
        self, track: Track, kpi_idx: int, tick_ms: int, spans: list[float]
    ) -> list[KpiSample]:
        """The KPI over several spans ending at ``tick_ms`` (one read of the ring).

        Results are remembered until the next ingest or another tick: a tick asks for
        the same track, KPI and span more than once (verdict, reference, judge).
        """
        if tick_ms != self._memo_tick:
            self._memo.clear()
            self._memo_tick = tick_ms
        memo = self._memo
        todo = list(dict.fromkeys(w for w in spans if (track, kpi_idx, w) not in memo))
        if todo:
            for w, s in zip(todo, self._compute(track, kpi_idx, tick_ms, todo), strict=True):
                memo[(track, kpi_idx, w)] = s
        return [memo[(track, kpi_idx, w)] for w in spans]

    def _compute(
        self, track: Track, kpi_idx: int, tick_ms: int, spans: list[float]
    ) -> list[KpiSample]:
        kpi = self.kpis[kpi_idx]
        ring = self.rings.get((track, kpi_idx))
        if ring is None:
            return [KpiSample(None, 0, np.empty(0)) for _ in spans]
        sizes = [min(max(1, int(round(w * 1000 / self.res_ms))), ring.n) for w in spans]
        sums, counts = ring.rows(tick_ms // self.res_ms - 1, max(sizes))
        actives = [0] * len(spans)
        if kpi.policy.kind == "counter_rate" or kpi.policy.aggregate == "sum":
            seen = self._seen[self._ring_code(track, kpi_idx), : self._nr]
            actives = [int((seen >= tick_ms - int(w * 1000)).sum()) for w in spans]
        res_s = self.res_ms / 1000
        return evaluate_spans(kpi, sums, counts, list(ring.cols), spans, sizes, res_s, actives)

    def has_track(self, track: Track, since_ms: int = -1) -> bool:
        """True when the track had KPI samples at or after ``since_ms``."""
        return self.track_seen_ms.get(track, -2) >= since_ms
