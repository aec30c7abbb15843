"""Point-by-point anomaly detector for one raw KPI series (learned thresholds, streaming).

Each point is *scored before it is learned*; no look-ahead; O(1) time and memory per
point (exponentially weighted estimates, no buffers). Three robust views of a point
against the series' own learned behaviour:

* level: distance of the value from the slow level, in robust deviations;
* short mean: distance of a fast-moving mean from the slow level (level shifts that
  single-point noise hides);
* change: the step from the previous value against the typical step (spikes, breaks).

Deviations update the estimates only after clipping (a spike does not drag the level
along). The strongest view is a raw score, calibrated against the series' own raw
scores (an *anomaly likelihood*: how unusual the last few raw scores are for this
series), then log-scaled into [0, 1]. After an alarm the output is held low for
``quiet`` points (longer while the series stays anomalous, at most ``max_hold``) unless
a stronger score comes: one incident raises one alarm, not a storm, at any threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_LOG_EPS = math.log(1e-10)


@dataclass
class PointDetector:
    """Streaming detector; ``score(value)`` returns the anomaly score in [0, 1], then learns.

    >>> import random
    >>> rnd = random.Random(0)
    >>> d = PointDetector(probation=50)
    >>> quiet = [d.score(rnd.gauss(10, 1)) for _ in range(400)]
    >>> max(quiet[60:]) < 0.5, d.score(40.0) > 0.5
    (True, True)
    """

    probation: int = 150
    slow: float = 0.003
    fast: float = 0.25
    raw_rate: float = 0.001
    short: int = 1
    clip: float = 4.0
    alarm: float = 0.15
    quiet: int = 0
    rearm: float = 0.6
    max_hold: int = 0
    period: int = 0
    ring: list[float] | None = None
    sdev: float = 0.0
    sn: int = 0
    n: int = 0
    level: float = 0.0
    dev: float = 0.0
    fmean: float = 0.0
    step: float = 0.0
    prev: float = 0.0
    raw_mean: float = 0.0
    raw_var: float = 0.0
    recent: tuple[float, ...] = ()
    hold: int = 0
    held: int = 0
    held_level: float = 0.0

    def _raw(self, x: float) -> float:
        if self.n < 5:
            return 0.0
        spread = max(1.2533 * self.dev, abs(self.level) * 1e-4, 1e-9)
        z_level = abs(x - self.level) / spread
        f = self.fmean + self.fast * (x - self.fmean)
        z_short = abs(f - self.level) / spread * math.sqrt((2 - self.fast) / self.fast) / 2
        z_step = abs(x - self.prev) / max(1.2533 * self.step, spread * 0.1, 1e-9)
        if self.ring is not None and self.sn > self.period:
            back = self.ring[self.n % self.period]
            z_season = abs(x - back) / max(1.2533 * self.sdev, spread * 0.05, 1e-9)
            z_level = min(z_level, z_season)
        z = max(z_level, z_short, 0.7 * z_step)
        return 1.0 - math.exp(-z / 4.0)

    def _likelihood(self, raw: float) -> float:
        self.recent = (*self.recent[-(self.short - 1) :], raw) if self.short > 1 else (raw,)
        if self.n < 30:
            return 0.5
        sd = max(math.sqrt(self.raw_var), 1e-3)
        m = sum(self.recent) / len(self.recent)
        return 1.0 - 0.5 * math.erfc((m - self.raw_mean) / sd / math.sqrt(2.0))

    def score(self, x: float) -> float:
        """Score the value against what was learned so far, then learn it."""
        if not math.isfinite(x):
            return 0.0
        raw = self._raw(x)
        like = self._likelihood(raw)
        out = min(1.0, max(0.0, math.log(max(1.0 - like, 1e-10)) / _LOG_EPS))
        if self.n < self.probation:
            out = 0.0
        if self.held and out > self.held_level:
            self.held_level, self.hold, self.held = out, self.quiet, 1  # a stronger event
        elif self.held:
            self.held += 1
            calm = out < self.alarm * self.rearm
            self.hold = self.hold - 1 if calm else max(self.hold, 3)
            if (self.hold <= 0 and calm) or (self.max_hold and self.held > self.max_hold):
                self.held = self.hold = 0
            out *= 0.1
        elif out >= self.alarm and self.quiet:
            self.hold, self.held, self.held_level = self.quiet, 1, out
        self._learn(x, raw)
        return out

    def _learn(self, x: float, raw: float) -> None:
        if self.period > 1:
            if self.ring is None:
                self.ring = [x] * self.period
            i = self.n % self.period
            if self.n >= self.period:
                sd = abs(x - self.ring[i])
                srate = max(self.slow, 1.0 / (self.sn + 1))
                if self.sn > 20:
                    sd = min(sd, self.clip * max(1.2533 * self.sdev, 1e-9))
                self.sdev += srate * (sd - self.sdev)
                self.sn += 1
            self.ring[i] = x
        if self.n == 0:
            self.level = self.fmean = self.prev = x
            self.n = 1
            return
        rate = max(self.slow, 1.0 / (self.n + 1))
        spread = max(1.2533 * self.dev, abs(self.level) * 1e-4, 1e-9)
        d = x - self.level
        dc = max(-self.clip * spread, min(self.clip * spread, d)) if self.n > 20 else d
        self.level += rate * dc
        self.dev += rate * (abs(dc) - self.dev)
        self.fmean += self.fast * (x - self.fmean)
        st = abs(x - self.prev)
        if self.n > 20:
            st = min(st, self.clip * max(1.2533 * self.step, 1e-9))
        self.step += rate * (st - self.step)
        self.prev = x
        rr = max(self.raw_rate, 1.0 / (self.n + 1))
        delta = raw - self.raw_mean
        self.raw_mean += rr * delta
        self.raw_var = (1 - rr) * (self.raw_var + rr * delta * delta)
        self.n += 1
