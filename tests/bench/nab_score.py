"""A scorer in the manner of the Numenta Anomaly Benchmark, written from its description.

Scoring as published for NAB (Lavin & Ahmad 2015, "Evaluating Real-time Anomaly
Detection Algorithms"), re-implemented here:

* each labelled anomaly gets a *window* centred on it, all windows of a file together
  spanning 10% of the file (a run of labelled points is one anomaly; its window also
  covers the whole run); overlapping windows merge;
* the first ``probation`` points (15% of the file, at most 750) are for learning:
  detections there are ignored (and windows of anomalies inside it are dropped);
* a detection is a point whose score reaches the threshold. In a window only the
  first detection counts, weighted by ``A_TP * sigma(y)`` with ``y`` its position
  relative to the window end (-1 = window start, 0 = end) and
  ``sigma(y) = 2 / (1 + e^{5y}) - 1``; a detection outside every window costs
  ``A_FP * sigma(y)`` with ``y`` its distance after the preceding window in window
  lengths (``-A_FP`` when no window precedes it); a window without detection costs
  ``A_FN``;
* the corpus score is normalised: 100 × (S − S_null) / (S_perfect − S_null), with
  S_null the detector that never fires and S_perfect the one firing at every window
  start; the threshold is the one maximising S over the whole corpus.
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


def sigma(y: np.ndarray | float) -> np.ndarray:
    """The scaled sigmoid of NAB: ~0.987 at a window's start, 0 at its end, → -1 after.

    >>> [round(float(v), 3) for v in sigma(np.array([-1.0, 0.0, 1.0]))]
    [0.987, 0.0, -0.987]
    """
    y = np.asarray(y, dtype=float)
    return np.where(y > 3.0, -1.0, 2.0 / (1.0 + np.exp(np.minimum(5.0 * y, 50.0))) - 1.0)


def probation_of(n: int) -> int:
    return int(min(math.floor(0.15 * n), 0.15 * 5000))


@dataclass
class Labelled:
    """One scored file: scores, label windows (start, end, event index) and probation."""

    name: str
    scores: np.ndarray
    windows: list[tuple[int, int, int]]
    probation: int
    timestamps_s: np.ndarray


def windows_from_labels(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """NAB-style windows (inclusive index bounds) from per-point 0/1 labels.

    >>> windows_from_labels(np.array([0] * 45 + [1, 1] + [0] * 53))
    [(40, 50, 45)]
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
    return wins


def score_file(
    f: Labelled, threshold: float, profile: str = "standard"
) -> tuple[float, int, int, int, list[float]]:
    """Raw NAB score of one file: (score, true-positive windows, FPs, misses, delays_s)."""
    a_tp, a_fp, a_fn = PROFILES[profile]
    det = np.flatnonzero(f.scores >= threshold)
    det = det[det >= f.probation]
    wins = [w for w in f.windows if w[2] >= f.probation]
    total, tp, fp, delays = 0.0, 0, 0, []
    in_window = np.zeros(det.size, dtype=bool)
    for lo, hi, event in wins:
        inside = det[(det >= lo) & (det <= hi)]
        in_window |= (det >= lo) & (det <= hi)
        if inside.size:
            first = int(inside[0])
            total += a_tp * float(sigma((first - hi) / (hi - lo + 1)))
            tp += 1
            delays.append(max(0.0, float(f.timestamps_s[first] - f.timestamps_s[event])))
        else:
            total -= a_fn
    fps = det[~in_window]
    if fps.size:
        ends = np.array([w[1] for w in wins], dtype=float)
        lens = np.array([w[1] - w[0] + 1 for w in wins], dtype=float)
        k = np.searchsorted(ends, fps) - 1
        rel = (fps - ends[np.maximum(k, 0)]) / lens[np.maximum(k, 0)] if wins else fps * 0.0
        total += (
            a_fp * float(np.where(k >= 0, sigma(rel), -1.0).sum()) if wins else (-a_fp * fps.size)
        )
        fp += int(fps.size)
    return total, tp, fp, len(wins) - tp, delays


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


def score_corpus(
    files: list[Labelled], profile: str = "standard", thresholds: np.ndarray | None = None
) -> CorpusScore:
    """Best normalised score over thresholds (the detector's optimal threshold)."""
    a_tp, _, a_fn = PROFILES[profile]
    n_wins = sum(1 for f in files for w in f.windows if w[2] >= f.probation)
    null, perfect = -a_fn * n_wins, a_tp * float(sigma(-1.0)) * n_wins
    if thresholds is None:
        allscores = np.concatenate([f.scores[f.probation :] for f in files])
        qs = np.quantile(allscores, np.linspace(0.5, 1.0, 120))
        thresholds = np.unique(np.concatenate([qs, np.linspace(0.05, 1.0, 96)]))
    best: CorpusScore | None = None
    for th in thresholds:
        s, tp, fp, fn, delays = 0.0, 0, 0, 0, []
        for f in files:
            r = score_file(f, float(th), profile)
            s += r[0]
            tp, fp, fn = tp + r[1], fp + r[2], fn + r[3]
            delays += r[4]
        norm = 100.0 * (s - null) / (perfect - null) if perfect != null else 0.0
        if best is None or norm > best.normalized:
            best = CorpusScore(norm, float(th), tp, fp, fn, delays)
    assert best is not None
    return best
