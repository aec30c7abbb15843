"""Routing tables of one window set: which KPI columns each series feeds, as arrays.

A batch is routed by indexing, not by asking each series: a series (name, labels,
track) gets a route id ``rid`` the first time it is seen (0 = feeds no KPI), and
each route owns a run of targets ``tid`` — one per (KPI, column) it feeds. Per-route
and per-target facts live in parallel numpy arrays, so a batch of route ids expands
to its (series, target) pairs with ``np.repeat``. Label sets are matched against the
KPI selectors once; a repeat series costs one dict lookup on its labels as sent (the
canonical, sorted key is built only on a miss). Counter state (last timestamp and
value per counter series) and when each series last fed each ring (``seen``: ring
code × rid, for per-series KPIs) are arrays indexed the same way. Everything here is
plain data: picklable, and bounded by ``4 * max_series`` routes and ``max_series``
counter states.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.kpi import CompiledKpi
from schemas import Series

NO_TS = np.iinfo(np.int64).min


def ramp(k: np.ndarray) -> np.ndarray:
    """``0..k[i]-1`` for each group, concatenated.

    >>> ramp(np.array([2, 0, 3])).tolist()
    [0, 1, 0, 1, 2]
    """
    ends = np.cumsum(k)
    return np.arange(int(ends[-1]) if k.size else 0) - np.repeat(ends - k, k)


def grown(arr: np.ndarray, n: int, fill: Any) -> np.ndarray:
    """``arr`` with room for index ``n`` on its last axis (capacity doubles).

    >>> grown(np.zeros(2, dtype=int), 2, 7).tolist()
    [0, 0, 7, 7]
    """
    if n < arr.shape[-1]:
        return arr
    out = np.full((*arr.shape[:-1], max(2 * arr.shape[-1], n + 1)), fill, dtype=arr.dtype)
    out[..., : arr.shape[-1]] = arr
    return out


class RouteTable:
    """Series → (ring, column) targets, counter state and last-fed times, as arrays."""

    _by_shape: dict[tuple[str | None, ...], list[tuple[CompiledKpi, float | int]]] | None = None
    _shape_keys: tuple[str, ...] = ()  # (class defaults: tables pickled before they existed)

    def __init__(self, kpis: list[CompiledKpi], max_series: int) -> None:
        self.kpis, self.max_series = kpis, max_series
        self.alias: dict[tuple[Any, ...], int] = {}  # (name, labels as sent, track) → rid
        self.cache: Any = None  # the same, in C (models/window_native.py), made on first use
        self.canon: dict[tuple[Any, ...], int] = {}  # (name, sorted labels, track) → rid
        self.tracks: list[str] = []
        self.ring_keys: list[tuple[str, int]] = []  # ring code → (track, KPI index)
        self.n_routes, self.n_targets, self.n_counters = 1, 0, 0
        self.r_off = np.zeros(64, dtype=np.int64)  # first target of each route
        self.r_nt = np.zeros(64, dtype=np.int64)  # number of targets
        self.r_track = np.zeros(64, dtype=np.int64)  # index into ``tracks``
        self.r_counter = np.zeros(64, dtype=bool)  # feeds a counter KPI
        self.r_csid = np.full(64, -1, dtype=np.int64)  # counter state; -2: not yet assigned
        self.t_ring = np.zeros(64, dtype=np.int64)  # ring code of each target
        self.t_col = np.full(64, -1, dtype=np.int64)  # ring column; -1: not created yet
        self.t_counter = np.zeros(64, dtype=bool)
        self.t_key: list[float] = []  # column key (fixed index or ``le`` bound)
        self.c_ts = np.zeros(64, dtype=np.int64)
        self.c_val = np.zeros(64)
        self.c_known = np.zeros(64, dtype=bool)
        self.seen = np.full((0, 64), NO_TS, dtype=np.int64)

    def ring_code(self, track: str, kpi_idx: int) -> int:
        if track not in self.tracks:
            self.tracks.append(track)
            self.ring_keys += [(track, k.index) for k in self.kpis]
            more = np.full((len(self.kpis), self.seen.shape[1]), NO_TS)
            self.seen = np.vstack([self.seen, more])
        return self.tracks.index(track) * len(self.kpis) + kpi_idx

    def resolve(self, series: Series, track: str, remember: bool = True) -> int:
        """The route id of a series not seen with these labels as sent (0 = feeds nothing).

        ``remember=False``: not added to ``alias`` (the native route cache keeps it).
        """
        name, labels = series.name, series.labels
        canon = (name, tuple(sorted(labels.items())), track)
        rid = self.canon.get(canon)
        if rid is None:
            targets = self._targets(name, labels)
            rid = 0
            if targets and len(self.canon) < 4 * self.max_series:
                rid = self.canon[canon] = self._add(track, targets)
        if remember and len(self.alias) < 4 * self.max_series:
            self.alias[(name, tuple(labels.items()), track)] = rid
        return rid

    def _targets(self, name: str, labels: dict[str, str]) -> list[tuple[CompiledKpi, float | int]]:
        """The (KPI, column) pairs a series feeds, matched once per distinct selector input.

        Selectors read the name and a few label keys (``match`` keys, ``le``), so series
        that differ only in other labels (pod, instance, handler) share one answer.
        """
        if self._by_shape is None:
            self._by_shape = {}
            keys = {"le", *(key for k in self.kpis for key in k.label_keys)}
            self._shape_keys = tuple(sorted(keys))
        shape = (name, *(labels.get(key) for key in self._shape_keys))
        targets = self._by_shape.get(shape)
        if targets is None:
            targets = [(k, col) for k in self.kpis for col in k.columns(name, labels)]
            if len(self._by_shape) < 4 * self.max_series:
                self._by_shape[shape] = targets
        return targets

    def _add(self, track: str, targets: list[tuple[CompiledKpi, float | int]]) -> int:
        rid, t0 = self.n_routes, self.n_targets
        self.n_routes, self.n_targets = rid + 1, t0 + len(targets)
        self.r_off, self.r_nt = grown(self.r_off, rid, 0), grown(self.r_nt, rid, 0)
        self.r_track, self.r_csid = grown(self.r_track, rid, 0), grown(self.r_csid, rid, -1)
        self.r_counter, self.seen = grown(self.r_counter, rid, False), grown(self.seen, rid, NO_TS)
        self.r_off[rid], self.r_nt[rid] = t0, len(targets)
        self.r_track[rid] = self.ring_code(track, 0) // len(self.kpis)
        self.r_counter[rid] = any(k.counter for k, _ in targets)
        self.r_csid[rid] = -2 if self.r_counter[rid] else -1
        last = self.n_targets - 1
        self.t_ring, self.t_col = grown(self.t_ring, last, 0), grown(self.t_col, last, -1)
        self.t_counter = grown(self.t_counter, last, False)
        for tid, (k, col) in enumerate(targets, t0):
            self.t_ring[tid] = self.ring_code(track, k.index)
            self.t_counter[tid] = k.counter
            self.t_key.append(float(col))
        return rid

    def counter_slots(self, rids: np.ndarray) -> None:
        """Give counter state to series feeding a counter for the first time (capped)."""
        for rid in rids[self.r_csid[rids] == -2].tolist():
            if self.r_csid[rid] != -2:
                continue
            if self.n_counters >= self.max_series:
                self.r_csid[rid] = -1
                continue
            self.r_csid[rid], n = self.n_counters, self.n_counters
            self.n_counters += 1
            self.c_ts, self.c_val = grown(self.c_ts, n, 0), grown(self.c_val, n, 0.0)
            self.c_known = grown(self.c_known, n, False)
