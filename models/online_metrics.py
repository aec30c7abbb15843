"""Prequential (test-then-train) metrics and the online alarm threshold.

Why: a prediction is scored when *its own* label arrives, with the probability
and the alarm it had at request time; that is the only honest measure of an
online model with delayed labels. ROC-AUC comes from fixed-bin score histograms
(1000 bins: exact up to ties within 0.001, O(1) memory, deterministic, picklable).

The alarm threshold maximises F1(failure) on an exponentially decayed histogram
of recent labelled predictions, re-chosen every ``every`` labels, so it follows
the base rate as it drifts instead of staying at 0.5.
"""

from __future__ import annotations

import math

_EPS = 1e-7


def auc_from_histograms(pos: list[float], neg: list[float]) -> float | None:
    """ROC-AUC from per-bin counts of positives and negatives (ties count half).

    >>> auc_from_histograms([0, 0, 1], [1, 0, 0])
    1.0
    >>> auc_from_histograms([1, 0], [1, 0])
    0.5
    >>> auc_from_histograms([0, 0], [1, 0]) is None
    True
    """
    total_pos, total_neg = sum(pos), sum(neg)
    if total_pos <= 0 or total_neg <= 0:
        return None
    below = 0.0  # negatives with a lower score than the current bin
    acc = 0.0
    for p, n in zip(pos, neg, strict=True):
        acc += p * (below + 0.5 * n)
        below += n
    return acc / (total_pos * total_neg)


def best_f1_threshold(pos: list[float], neg: list[float], default: float) -> float:
    """Threshold (a bin's lower edge) maximising F1 of "alarm when p >= threshold".

    >>> best_f1_threshold([0, 0, 0, 5], [5, 5, 0, 0], 0.5)
    0.75
    >>> best_f1_threshold([0, 0], [0, 0], 0.5)
    0.5
    """
    bins = len(pos)
    total_pos = sum(pos)
    if total_pos <= 0:
        return default
    best, best_t = -1.0, default
    tp = fp = 0.0
    for b in range(bins - 1, -1, -1):  # lower the threshold one bin at a time
        tp += pos[b]
        fp += neg[b]
        f1 = 2 * tp / (2 * tp + fp + (total_pos - tp)) if tp > 0 else 0.0
        if f1 > best:
            best, best_t = f1, b / bins
    return best_t


class PrequentialMetrics:
    """Running ROC-AUC, log loss, Brier and F1 of the alarms actually raised.

    >>> m = PrequentialMetrics()
    >>> m.update(0.9, 1, 1); m.update(0.2, 0, 0); m.update(0.6, 0, 1)
    >>> d = m.as_dict()
    >>> d["n"], d["roc_auc"], round(d["f1"], 3), round(d["brier"], 3)
    (3, 1.0, 0.667, 0.137)
    """

    __slots__ = ("n", "pos", "neg", "log_loss_sum", "brier_sum", "tp", "fp", "fn", "bins")

    def __init__(self, bins: int = 1000) -> None:
        self.bins = bins
        self.n = 0
        self.pos = [0.0] * bins
        self.neg = [0.0] * bins
        self.log_loss_sum = 0.0
        self.brier_sum = 0.0
        self.tp = self.fp = self.fn = 0

    def update(self, p: float, y: int, alarm: int) -> None:
        b = min(int(p * self.bins), self.bins - 1)
        (self.pos if y else self.neg)[b] += 1
        self.n += 1
        self.log_loss_sum += log_loss(p, y)
        self.brier_sum += (p - y) ** 2
        if alarm and y:
            self.tp += 1
        elif alarm:
            self.fp += 1
        elif y:
            self.fn += 1

    def as_dict(self) -> dict[str, float | int | None]:
        n = self.n
        denom = 2 * self.tp + self.fp + self.fn
        return {
            "n": n,
            "roc_auc": auc_from_histograms(self.pos, self.neg),
            "log_loss": self.log_loss_sum / n if n else None,
            "brier": self.brier_sum / n if n else None,
            "f1": 2 * self.tp / denom if denom else None,
            "precision": self.tp / (self.tp + self.fp) if self.tp + self.fp else None,
            "recall": self.tp / (self.tp + self.fn) if self.tp + self.fn else None,
            "failure_rate": sum(self.pos) / n if n else None,
        }


def log_loss(p: float, y: int) -> float:
    """Binary cross-entropy of one prediction, clipped away from 0 and 1.

    >>> round(log_loss(0.5, 1), 4)
    0.6931
    """
    q = min(max(p, _EPS), 1.0 - _EPS)
    return -math.log(q if y else 1.0 - q)


class ThresholdSelector:
    """Alarm threshold chosen online to maximise F1 on recent (decayed) labels.

    >>> s = ThresholdSelector(bins=4, every=2, min_positives=1)
    >>> for p, y in [(0.9, 1), (0.1, 0), (0.8, 1), (0.3, 0)]:
    ...     s.update(p, y)
    >>> s.threshold
    0.75
    """

    __slots__ = ("bins", "decay", "every", "min_positives", "pos", "neg", "seen", "threshold")

    def __init__(
        self,
        bins: int = 100,
        decay: float = 0.9998,
        every: int = 50,
        min_positives: int = 30,
        initial: float = 0.5,
    ) -> None:
        self.bins = bins
        self.decay = decay
        self.every = every
        self.min_positives = min_positives
        self.pos = [0.0] * bins
        self.neg = [0.0] * bins
        self.seen = 0
        self.threshold = initial

    def update(self, p: float, y: int) -> None:
        b = min(int(p * self.bins), self.bins - 1)
        (self.pos if y else self.neg)[b] += 1.0
        self.seen += 1
        if self.seen % self.every:
            return
        d = self.decay**self.every  # decay in batches: same result, 50x cheaper
        self.pos = [v * d for v in self.pos]
        self.neg = [v * d for v in self.neg]
        if sum(self.pos) >= self.min_positives * d:
            self.threshold = best_f1_threshold(self.pos, self.neg, self.threshold)

    def reset(self) -> None:
        """Forget the histogram (after drift); keep the current threshold until relearned."""
        self.pos = [0.0] * self.bins
        self.neg = [0.0] * self.bins
