"""Point-by-point anomaly detector for one raw KPI series (learned thresholds, streaming).

Each point is *scored before it is learned*; no look-ahead. Three robust views of the
point against its own recent history (a sliding window of ``history`` points):

* level: distance of the value from the window median, in MADs;
* short mean: distance of the mean of the last few points (a level shift that
  single-point noise hides);
* change: the first difference against the window's differences (spikes, breaks).

The strongest view becomes a raw score, which is calibrated against the series' own
distribution of raw scores (an *anomaly likelihood*: how unusual the recent raw
scores are for this series), then log-scaled into [0, 1]. After a strong alarm the
output is held low for ``quiet`` points: one incident raises one alarm, not a
storm, which is what an on-call engineer and the NAB scoring both reward.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np


def _ring_stats(values: np.ndarray) -> tuple[float, float]:
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med)))
    return med, mad


@dataclass
class PointDetector:
    """Streaming detector; ``score(value)`` returns the anomaly score in [0, 1] then learns.

    >>> d = PointDetector(probation=50)
    >>> rng = np.random.default_rng(0)
    >>> quiet = [d.score(float(v)) for v in rng.normal(10, 1, 400)]
    >>> max(quiet[60:]) < 0.5, d.score(40.0) > 0.5
    (True, True)
    """

    probation: int = 150
    history: int = 300
    short: int = 5
    raw_history: int = 1000
    likelihood_short: int = 3
    alarm: float = 0.5
    quiet: int = 0
    values: deque[float] = field(default_factory=deque)
    diffs: deque[float] = field(default_factory=deque)
    raws: deque[float] = field(default_factory=deque)
    recent_raw: deque[float] = field(default_factory=deque)
    n: int = 0
    hold: int = 0

    def _raw(self, x: float) -> float:
        if len(self.values) < 10:
            return 0.0
        hist = np.fromiter(self.values, dtype=float)
        med, mad = _ring_stats(hist)
        spread = 1.4826 * mad
        if spread <= 0:
            spread = max(float(hist.std()), abs(med) * 1e-3, 1e-9)
        z_level = abs(x - med) / spread
        tail = list(self.values)[-(self.short - 1):] + [x]
        z_short = abs(float(np.mean(tail)) - med) / spread * math.sqrt(len(tail)) / 2.0
        z_diff = 0.0
        if len(self.diffs) >= 10:
            d = np.fromiter(self.diffs, dtype=float)
            dmed, dmad = _ring_stats(d)
            dspread = 1.4826 * dmad or max(float(d.std()), 1e-9)
            z_diff = abs((x - self.values[-1]) - dmed) / dspread
        z = max(z_level, z_short, z_diff * 0.8)
        return 1.0 - math.exp(-z / 4.0)

    def _likelihood(self, raw: float) -> float:
        self.recent_raw.append(raw)
        if len(self.recent_raw) > self.likelihood_short:
            self.recent_raw.popleft()
        if len(self.raws) < 30:
            return 0.5
        r = np.fromiter(self.raws, dtype=float)
        mu, sd = float(r.mean()), max(float(r.std()), 1e-3)
        m = float(np.mean(self.recent_raw))
        return 1.0 - 0.5 * math.erfc((m - mu) / sd / math.sqrt(2.0))

    def score(self, x: float) -> float:
        """Score the value against what was learned so far, then learn it."""
        if not math.isfinite(x):
            return 0.0
        raw = self._raw(x)
        like = self._likelihood(raw)
        out = math.log(1.0000000001 - like) / math.log(1.0 - 0.9999999999)
        out = min(1.0, max(0.0, out))
        if self.n < self.probation:
            out = 0.0
        if self.hold > 0:
            self.hold -= 1
            out = min(out, 0.1 * out)
        elif out >= self.alarm and self.quiet:
            self.hold = self.quiet
        self._learn(x, raw)
        return out

    def _learn(self, x: float, raw: float) -> None:
        if self.values:
            self.diffs.append(x - self.values[-1])
            if len(self.diffs) > self.history:
                self.diffs.popleft()
        self.values.append(x)
        if len(self.values) > self.history:
            self.values.popleft()
        self.raws.append(raw)
        if len(self.raws) > self.raw_history:
            self.raws.popleft()
        self.n += 1
