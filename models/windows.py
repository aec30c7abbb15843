"""Sliding event-time windows per (deployment, track, KPI), vectorized and bounded.

Samples are summed into fixed time buckets (``resolution``) held in a ring of
``n_slots`` rows per (track, KPI); a window is a slice of consecutive buckets. Memory
per deployment is therefore fixed by the longest window and the number of KPI columns,
however many samples arrive; buckets older than the ring are overwritten and late
samples for them are dropped (counted). Counter series keep only their last sample
(to turn counters into increases), capped at ``max_series``.

Routing of a series to a track (documented contract with the ingest side):

1. ``series.deployment_id`` set → that deployment, ``series.track``;
2. else a version (``series.version`` or the ``version`` label) equal to the
   deployment's new version → ``canary``; equal to its previous version → ``stable``;
3. else → the app's active deployment, ``series.track`` (``stable`` by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from models.kpi import CompiledKpi, KpiSample, evaluate
from models.policy import AppPolicy
from schemas import Series

Track = str


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

    def add(self, col: int, buckets: np.ndarray, values: np.ndarray) -> None:
        """Add values at absolute bucket numbers; newer buckets evict what their slot held."""
        if buckets.size == 0:
            return
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
            slots, values = slots[ok], values[ok]
        if slots.size == 1:
            self.sums[slots[0], col] += values[0]
            self.counts[slots[0], col] += 1
        else:
            self.sums[:, col] += np.bincount(slots, weights=values, minlength=self.n)
            self.counts[:, col] += np.bincount(slots, minlength=self.n)

    def add_one(self, col: int, bucket: int, value: float) -> None:
        """``add`` for a single sample, without array overhead."""
        slot = bucket % self.n
        held = int(self.epoch[slot])
        if bucket > held:
            self.sums[slot] = 0.0
            self.counts[slot] = 0.0
            self.epoch[slot] = bucket
        elif bucket < held:
            self.dropped += 1
            return
        self.sums[slot, col] += value
        self.counts[slot, col] += 1

    def rows(self, end_bucket: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of buckets ``end_bucket-n+1 .. end_bucket`` (oldest first); absent = 0."""
        wanted = np.arange(end_bucket - n + 1, end_bucket + 1, dtype=np.int64)
        slots = wanted % self.n
        present = (self.epoch[slots] == wanted)[:, None]
        return self.sums[slots] * present, self.counts[slots] * present


@dataclass
class _SeriesState:
    last_ts: int
    last_val: float


@dataclass
class WindowSet:
    """All windows of one deployment (or of an app between deployments)."""

    policy: AppPolicy
    kpis: list[CompiledKpi]
    max_series: int = 20_000
    rings: dict[tuple[Track, int], Ring] = field(default_factory=dict)
    counters: dict[tuple[str, tuple[tuple[str, str], ...], str], _SeriesState] = field(
        default_factory=dict
    )
    last_seen: dict[tuple[Track, int], dict[tuple[str, tuple[tuple[str, str], ...]], int]] = field(
        default_factory=dict
    )
    routes: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[int, list[float | int]]]] = (
        field(default_factory=dict)
    )
    dropped_series: int = 0
    watermark_ms: int = -1
    track_seen_ms: dict[Track, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.res_ms = max(1, int(self.policy.resolution * 1000))
        longest = max([k.policy.window for k in self.kpis] + [self.policy.judge_window])
        self.n_slots = int(longest * 1000 // self.res_ms) + 4

    def _route(
        self, name: str, key: tuple[tuple[str, str], ...], labels: dict[str, str]
    ) -> list[tuple[int, list[float | int]]]:
        rk = (name, key)
        route = self.routes.get(rk)
        if route is None:
            route = [(k.index, cols) for k in self.kpis if (cols := k.columns(name, labels))]
            if len(self.routes) < 4 * self.max_series:
                self.routes[rk] = route
        return route

    def ingest(self, series: Series, track: Track) -> int:
        """Add one series' samples to every KPI window it feeds; returns samples used."""
        labels = series.labels
        key = tuple(sorted(labels.items()))
        route = self._route(series.name, key, labels)
        n = len(series.values)
        if n == 0:
            return 0
        if n == 1:
            return self._ingest_one(series, track, key, route)
        ts = np.asarray(series.timestamps_ms, dtype=np.int64)
        vals = np.asarray(series.values, dtype=float)
        newest = int(ts.max())
        self.watermark_ms = max(self.watermark_ms, newest)
        if not route:
            return 0
        good = np.isfinite(vals)
        if not good.all():
            ts, vals = ts[good], vals[good]
        if ts.size == 0:
            return 0
        if newest > self.track_seen_ms.get(track, -1):
            self.track_seen_ms[track] = newest
        incr = None
        for kpi_idx, cols in route:
            kpi = self.kpis[kpi_idx]
            if kpi.counter and incr is None:
                ts, incr = self._increases(series.name, key, track, ts, vals)
            data = incr if kpi.counter else vals
            if data is None or data.size == 0:
                continue
            buckets = ts // self.res_ms
            ring = self._ring(track, kpi)
            self.last_seen.setdefault((track, kpi_idx), {})[(series.name, key)] = int(ts[-1])
            for col in cols:
                ring.add(ring.column(float(col)), buckets, data)
        return int(vals.size)

    def _ring(self, track: Track, kpi: CompiledKpi) -> Ring:
        ring = self.rings.get((track, kpi.index))
        if ring is None:
            ring = self.rings[(track, kpi.index)] = Ring(self.n_slots)
            kind = kpi.policy.kind
            for fixed in range(2 if kind == "ratio" else 0 if kind == "quantile" else 1):
                ring.column(float(fixed))
        return ring

    def _ingest_one(
        self,
        series: Series,
        track: Track,
        key: tuple[tuple[str, str], ...],
        route: list[tuple[int, list[float | int]]],
    ) -> int:
        """Scalar fast path for the common remote-write case: one sample per series."""
        t, v = int(series.timestamps_ms[0]), series.values[0]
        if t > self.watermark_ms:
            self.watermark_ms = t
        if not route or v is None or not math.isfinite(v):
            return 0
        if t > self.track_seen_ms.get(track, -1):
            self.track_seen_ms[track] = t
        incr: float | None = None
        bucket = t // self.res_ms
        for kpi_idx, cols in route:
            kpi = self.kpis[kpi_idx]
            if kpi.counter:
                if incr is None:
                    incr = self._increase_one(series.name, key, track, t, float(v))
                if incr is None:
                    continue
            value = incr if kpi.counter and incr is not None else float(v)
            ring = self._ring(track, kpi)
            self.last_seen.setdefault((track, kpi_idx), {})[(series.name, key)] = t
            for col in cols:
                ring.add_one(ring.column(float(col)), bucket, value)
        return 1

    def _increase_one(
        self, name: str, key: tuple[tuple[str, str], ...], track: Track, t: int, v: float
    ) -> float | None:
        sk = (name, key, track)
        state = self.counters.get(sk)
        if state is None:
            if len(self.counters) >= self.max_series:
                self.dropped_series += 1
            else:
                self.counters[sk] = _SeriesState(t, v)
            return None
        if t <= state.last_ts:
            return None
        delta = v - state.last_val
        state.last_ts, state.last_val = t, v
        return delta if delta >= 0 else v

    def _increases(
        self,
        name: str,
        key: tuple[tuple[str, str], ...],
        track: Track,
        ts: np.ndarray,
        vals: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        sk = (name, key, track)
        state = self.counters.get(sk)
        if state is None:
            if len(self.counters) >= self.max_series:
                self.dropped_series += 1
                return ts, None
            self.counters[sk] = _SeriesState(int(ts[-1]), float(vals[-1]))
            prev_ts, prev = ts[:1], vals[:1]
            ts, vals = ts[1:], vals[1:]
            if ts.size == 0:
                return ts, None
            prev_all = np.concatenate([prev, vals[:-1]])
            del prev_ts
        else:
            newer = ts > state.last_ts
            if not newer.all():
                ts, vals = ts[newer], vals[newer]
            if ts.size == 0:
                return ts, None
            prev_all = np.concatenate([[state.last_val], vals[:-1]])
            state.last_ts, state.last_val = int(ts[-1]), float(vals[-1])
        delta = vals - prev_all
        return ts, np.where(delta >= 0, delta, vals)

    def sample(self, track: Track, kpi_idx: int, tick_ms: int, window_s: float) -> KpiSample:
        """The KPI over buckets ending before ``tick_ms`` spanning ``window_s``."""
        return self.samples(track, kpi_idx, tick_ms, [window_s])[0]

    def samples(
        self, track: Track, kpi_idx: int, tick_ms: int, spans: list[float]
    ) -> list[KpiSample]:
        """The KPI over several spans ending at ``tick_ms`` (one read of the ring)."""
        kpi = self.kpis[kpi_idx]
        ring = self.rings.get((track, kpi_idx))
        if ring is None:
            return [KpiSample(None, 0, np.empty(0)) for _ in spans]
        sizes = [min(max(1, int(round(w * 1000 / self.res_ms))), ring.n) for w in spans]
        sums, counts = ring.rows(tick_ms // self.res_ms - 1, max(sizes))
        cols = list(ring.cols)
        per_series = kpi.policy.kind == "counter_rate" or kpi.policy.aggregate == "sum"
        seen = self.last_seen.get((track, kpi_idx), {}) if per_series else {}
        out = []
        for w, n in zip(spans, sizes, strict=True):
            start = tick_ms - int(w * 1000)
            active = sum(1 for t in seen.values() if t >= start) if per_series else 0
            out.append(evaluate(kpi, sums[-n:], counts[-n:], cols, w, self.res_ms / 1000, active))
        return out

    def has_track(self, track: Track, since_ms: int = -1) -> bool:
        """True when the track had KPI samples at or after ``since_ms``."""
        return self.track_seen_ms.get(track, -2) >= since_ms
