"""A scorer in the manner of the Numenta Anomaly Benchmark, written from its description.

Scoring as published for NAB (Lavin & Ahmad 2015, "Evaluating Real-time Anomaly
Detection Algorithms", and the NAB documentation), re-implemented here:

* each labelled anomaly gets a *window* centred on it, of ``int(0.1 * n / anomalies)``
  points (so all windows of a file together span 10% of it). A run of labelled points
  is one anomaly, centred on its onset, and its window also covers the whole run;
  overlapping windows merge; a first window that starts inside the probationary period
  is deleted (as NAB's labeller does);
* the first ``probation`` points (15% of the file, at most 750) are for learning: they
  are not scored at all;
* a point inside a window of width ``W`` whose right edge is ``R`` is worth
  ``A_TP * sigma(-(R - i + 1) / W) / sigma(-1)`` (1.0 at the window's first point, → 0 at
  its end) with ``sigma(y) = 2 / (1 + e^{5y}) - 1``; only the best (= earliest) detection
  of a window counts, a window without one costs ``A_FN``;
* a point outside every window costs ``A_FP * sigma(d / (W_prev - 1))`` with ``d`` its
  distance after the preceding window's right edge (``-A_FP`` with no preceding window,
  and for ``y >= 3``): a detection just after a window is cheap, a far one costs ``A_FP``;
* a detection is a point whose score reaches the threshold; the threshold is the one
  maximising the summed score of the whole corpus, found by sweeping every distinct
  score value (as NAB's threshold optimiser does);
* the corpus score is normalised: 100 × (S − S_null) / (S_perfect − S_null), with
  S_null = −A_FN × windows (the detector that never fires) and S_perfect = A_TP ×
  windows (every window caught at its first point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PROFILES = {
    "standard": (1.0, 0.11, 1.0),  # A_TP, A_FP, A_FN
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}
OUTSIDE, PROBATION = -1, -2


def sigma(y: np.ndarray | float) -> np.ndarray:
    """The scaled sigmoid of NAB: ~0.987 at a window's start, 0 at its end, → -1 after.

    >>> [round(float(v), 3) for v in sigma(np.array([-1.0, 0.0, 1.0, 3.0]))]
    [0.987, 0.0, -0.987, -1.0]
    """
    y = np.asarray(y, dtype=float)
    return np.where(y >= 3.0, -1.0, 2.0 / (1.0 + np.exp(np.minimum(5.0 * y, 50.0))) - 1.0)


def probation_of(n: int) -> int:
    """NAB's probationary period: 15% of the file, at most 750 points.

    >>> probation_of(1000), probation_of(100_000)
    (150, 750)
    """
    return int(min(math.floor(0.15 * n), 0.15 * 5000))


@dataclass
class Labelled:
    """One scored file: scores, label windows (start, end, event index) and probation."""

    name: str
    scores: np.ndarray
    windows: list[tuple[int, int, int]]
    probation: int
    timestamps_s: np.ndarray


def windows_from_labels(labels: np.ndarray, probation: int = 0) -> list[tuple[int, int, int]]:
    """NAB-style windows (inclusive index bounds, onset index) from per-point 0/1 labels.

    >>> windows_from_labels(np.array([0] * 45 + [1, 1] + [0] * 53))
    [(40, 50, 45)]
    >>> windows_from_labels(np.array([0] * 10 + [1] + [0] * 89), probation=15)
    []
    """
    n = len(labels)
    lab = np.asarray(labels) > 0
    starts = np.flatnonzero(lab & ~np.concatenate([[False], lab[:-1]]))
    ends = np.flatnonzero(lab & ~np.concatenate([lab[1:], [False]]))
    if starts.size == 0:
        return []
    half = int(0.1 * n / starts.size) // 2
    wins: list[tuple[int, int, int]] = []
    for s, e in zip(starts, ends, strict=True):
        lo, hi = max(0, int(s) - half), min(n - 1, max(int(e), int(s) + half))
        if wins and lo <= wins[-1][1]:
            wins[-1] = (wins[-1][0], max(wins[-1][1], hi), wins[-1][2])
        else:
            wins.append((lo, hi, int(s)))
    if wins and wins[0][0] < probation:
        wins.pop(0)
    return wins


def point_weights(f: Labelled, profile: str) -> tuple[np.ndarray, np.ndarray]:
    """Per point: the NAB weight it earns if detected, and its window number (or a flag)."""
    a_tp, a_fp, _ = PROFILES[profile]
    n = len(f.scores)
    weight = np.full(n, -a_fp)
    where = np.full(n, OUTSIDE, dtype=np.int64)
    max_tp = float(sigma(-1.0))
    idx = np.arange(n)
    for k, (lo, hi, _) in enumerate(f.windows):
        width = hi - lo + 1
        weight[lo : hi + 1] = a_tp * sigma(-(hi - idx[lo : hi + 1] + 1) / width) / max_tp
        where[lo : hi + 1] = k
        end = f.windows[k + 1][0] if k + 1 < len(f.windows) else n
        after = idx[hi + 1 : end]
        weight[hi + 1 : end] = a_fp * sigma((after - hi) / max(width - 1, 1))
    where[: f.probation] = PROBATION
    return weight, where


@dataclass
class CorpusScore:
    normalized: float
    threshold: float
    tp: int
    fp: int
    fn: int
    delays: list[float]

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def events_at(f: Labelled, threshold: float) -> tuple[int, int, int, list[float]]:
    """Event-level counts at a threshold: caught windows, false alarms, misses, delays (s).

    A false alarm is a run of consecutive detections outside every window.
    """
    det = f.scores >= threshold
    det[: f.probation] = False
    _, where = point_weights(f, "standard")
    tp, delays = 0, []
    for k, (lo, hi, event) in enumerate(f.windows):
        hits = np.flatnonzero(det[lo : hi + 1] & (where[lo : hi + 1] == k))
        if hits.size:
            tp += 1
            first = lo + int(hits[0])
            delays.append(max(0.0, float(f.timestamps_s[first] - f.timestamps_s[event])))
    out = det & (where == OUTSIDE)
    fp = int((out & ~np.concatenate([[False], out[:-1]])).sum())
    scored = sum(1 for k in range(len(f.windows)) if (where == k).any())
    return tp, fp, scored - tp, delays


def score_corpus(files: list[Labelled], profile: str = "standard") -> CorpusScore:
    """Best normalised score over every distinct threshold (the detector's optimum)."""
    a_tp, _, a_fn = PROFILES[profile]
    scores, deltas, n_wins = [], [], 0
    for f in files:
        weight, where = point_weights(f, profile)
        keep = where != PROBATION
        s, w, k = f.scores[keep], weight[keep], where[keep]
        delta = np.where(k == OUTSIDE, w, 0.0)
        for win in np.unique(k[k >= 0]):
            n_wins += 1
            sel = np.flatnonzero(k == win)
            order = sel[np.argsort(-s[sel], kind="stable")]
            best = np.maximum.accumulate(np.maximum(w[order], -a_fn))
            delta[order] = np.diff(np.concatenate([[-a_fn], best]))
        scores.append(s)
        deltas.append(delta)
    all_s, all_d = np.concatenate(scores), np.concatenate(deltas)
    order = np.argsort(-all_s, kind="stable")
    s_sorted, total = all_s[order], -a_fn * n_wins + np.cumsum(all_d[order])
    last = np.flatnonzero(np.concatenate([s_sorted[1:] != s_sorted[:-1], [True]]))
    null, perfect = -a_fn * n_wins, a_tp * n_wins
    cand_s = np.concatenate([[np.inf], s_sorted[last]])
    cand_t = np.concatenate([[null], total[last]])
    i = int(np.argmax(cand_t))
    th = float(cand_s[i])
    tp = fp = fn = 0
    delays: list[float] = []
    for f in files:
        r = events_at(f, th)
        tp, fp, fn, delays = tp + r[0], fp + r[1], fn + r[2], delays + r[3]
    norm = 100.0 * (float(cand_t[i]) - null) / (perfect - null) if perfect != null else 0.0
    return CorpusScore(norm, th, tp, fp, fn, delays)
