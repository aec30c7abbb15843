"""Time-bucket storage of one window set: a ring of buckets shared by every column.

Each (track, KPI) owns a few columns (fixed indexes, or one per histogram ``le``
bound); all columns live in one ``Store`` so that a batch is one ``bincount`` and a
tick one gather, whatever the number of tracks and KPIs.
"""

from __future__ import annotations

import numpy as np


class Store:
    """Bucketed sums and counts of every column of one window set, ``n_slots`` rows.

    All (track, KPI) columns share one ring of time buckets, so a batch is added with one
    ``bincount`` and a tick reads every window with one gather. A slot moving on to a
    newer bucket clears its whole row; samples for a bucket whose slot has moved on
    (older than the ring) are dropped and counted.
    """

    def __init__(self, n_slots: int) -> None:
        self.n = n_slots
        self.epoch = np.full(n_slots, -1, dtype=np.int64)
        self.width = 0
        self._sums = np.zeros((n_slots, 8))
        self._counts = np.zeros((n_slots, 8))
        self.dropped = 0

    @property
    def sums(self) -> np.ndarray:
        return self._sums[:, : self.width]

    @property
    def counts(self) -> np.ndarray:
        return self._counts[:, : self.width]

    def nbytes(self) -> int:
        return int(self._sums.nbytes + self._counts.nbytes + self.epoch.nbytes)

    def new_column(self) -> int:
        col = self.width
        if col == self._sums.shape[1]:  # capacity doubles: columns appear rarely
            self._sums = np.hstack([self._sums, np.zeros_like(self._sums)])
            self._counts = np.hstack([self._counts, np.zeros_like(self._counts)])
        self.width += 1
        return col

    def add(self, cols: np.ndarray, buckets: np.ndarray, values: np.ndarray) -> None:
        """Add values at (column, absolute bucket); newer buckets evict what their slot held."""
        slots = buckets % self.n
        newest = self.epoch.copy()
        np.maximum.at(newest, slots, buckets)
        moved = newest != self.epoch
        if moved.any():
            self._sums[moved] = 0.0
            self._counts[moved] = 0.0
            self.epoch = newest
        ok = self.epoch[slots] == buckets
        if not ok.all():
            self.dropped += int((~ok).sum())
            slots, cols, values = slots[ok], cols[ok], values[ok]
        width = self._sums.shape[1]
        cells = slots * width + cols
        size = self.n * width
        self._sums += np.bincount(cells, weights=values, minlength=size).reshape(self.n, width)
        self._counts += np.bincount(cells, minlength=size).reshape(self.n, width)

    def rows(self, end_bucket: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of buckets ``end_bucket-n+1 .. end_bucket`` (oldest first); absent = 0."""
        wanted = np.arange(end_bucket - n + 1, end_bucket + 1, dtype=np.int64)
        slots = wanted % self.n
        present = (self.epoch[slots] == wanted)[:, None]
        return self.sums[slots] * present, self.counts[slots] * present


class Ring:
    """The columns of one (track, KPI) in the shared :class:`Store`: key → store column."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cols: dict[float, int] = {}
        self.index = np.zeros(0, dtype=np.int64)  # store columns in key insertion order

    @property
    def epoch(self) -> np.ndarray:
        return self.store.epoch

    @property
    def sums(self) -> np.ndarray:
        return self.store.sums

    @property
    def counts(self) -> np.ndarray:
        return self.store.counts

    _by_key: tuple[np.ndarray, np.ndarray] | None = None  # class default: older pickles

    def column(self, key: float) -> int:
        col = self.cols.get(key)
        if col is None:
            col = self.cols[key] = self.store.new_column()
            self.index = np.append(self.index, col)
            self._by_key = None
        return col

    def by_key(self) -> tuple[np.ndarray, np.ndarray]:
        """Column keys ascending (``le`` bounds), and their store columns in that order."""
        if self._by_key is None:
            keys = np.asarray(list(self.cols), dtype=float)
            order = np.argsort(keys)
            self._by_key = (keys[order], np.ascontiguousarray(self.index[order]))
        return self._by_key
