"""Point-by-point anomaly detector for one KPI series (learned thresholds, streaming).

The one scorer behind both the KPI benchmark and the guard's learned thresholds
(``models.anomaly.LevelScorer`` wraps it). Each point is *scored before it is learned*;
no look-ahead; O(1) time and memory per point (exponentially weighted estimates and,
optionally, one value per phase of a known season). Scoring is split so the guard can
score a new version's windows without learning them: ``likelihood`` is pure,
``learn`` folds a healthy value in, ``score`` (the benchmark's path) does both.

Three robust views of a point against the series' own learned behaviour, each in
robust deviations and signed (so a KPI can be watched in its bad direction only):

* level: distance from the slow level, or from the seasonal forecast when a season
  is configured and explains the point better;
* short mean: distance of a fast-moving mean from the level (shifts that single-point
  noise hides);
* step: the jump from the previous value against the typical jump (spikes, breaks).

Deviations update the estimates only after clipping (a spike does not drag the level
along). The strongest view is a raw score whose own long-run distribution is learned
(log-normal fit): the *anomaly likelihood* says how unusual this raw score is for this
series, so a noisy series must be much more extreme than a calm one to alarm.
Measured by ``make bench-kpi`` (NAB-style scoring, tests/bench/nab_score.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_LOG_EPS = math.log(1e-10)
_SQRT2 = math.sqrt(2.0)
_K_MAD = 1.2533  # mean absolute deviation → standard deviation for a normal


def _signed(e: float, direction: str) -> float:
    if direction == "up":
        return max(e, 0.0)
    if direction == "down":
        return max(-e, 0.0)
    return abs(e)


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
    clip: float = 4.0
    step_weight: float = 0.4
    period: int = 0
    season_rate: float = 0.3
    alarm: float = 0.15
    quiet: int = 0
    rearm: float = 0.6
    max_hold: int = 0
    per_hour: float = 1.0
    n: int = 0
    level: float = 0.0
    dev: float = 0.0
    fmean: float = 0.0
    step: float = 0.0
    prev: float = 0.0
    season: list[float] = field(default_factory=list)
    sdev: float = 0.0
    sn: int = 0
    raw_mean: float = 0.0
    raw_var: float = 0.0
    hold: int = 0
    held: int = 0
    held_level: float = 0.0

    def _spread(self) -> float:
        return max(_K_MAD * self.dev, abs(self.level) * 1e-4, 1e-9)

    def _seasonal(self, x: float, spread: float) -> float | None:
        if self.period < 2 or self.sn < 2 * self.period:
            return None
        fc = self.season[self.n % self.period]
        return (x - fc) / max(_K_MAD * self.sdev, spread * 0.05, 1e-9)

    def views(self, x: float, direction: str = "both") -> tuple[float, float, float]:
        """Level, short-mean and step views of ``x``: log(1 + robust deviations) (pure)."""
        if self.n < 5 or not math.isfinite(x):
            return (0.0, 0.0, 0.0)
        spread = self._spread()
        e_level = (x - self.level) / spread
        e_season = self._seasonal(x, spread)
        if e_season is not None and abs(e_season) < abs(e_level):
            e_level = e_season
        f = self.fmean + self.fast * (x - self.fmean)
        e_short = (f - self.level) / spread * math.sqrt((2 - self.fast) / self.fast) / 2
        e_step = (x - self.prev) / max(_K_MAD * self.step, spread * 0.1, 1e-9)
        return (
            math.log1p(_signed(e_level, direction)),
            math.log1p(_signed(e_short, direction)),
            math.log1p(self.step_weight * _signed(e_step, direction)),
        )

    def likelihood(self, x: float, direction: str = "both") -> float:
        """How unusual ``x`` is for this series, in [0, 1] (0.5 = typical); pure."""
        if self.n < 30 or not math.isfinite(x):
            return 0.5 if math.isfinite(x) else 0.0
        sd = max(math.sqrt(self.raw_var), 1e-3)
        return 1.0 - 0.5 * math.erfc((max(self.views(x, direction)) - self.raw_mean) / sd / _SQRT2)

    def score(self, x: float) -> float:
        """Benchmark path: score ``x`` against what was learned so far, then learn it.

        The alarm budget is per hour, not per point: the tail probability ``1 -
        likelihood`` is multiplied by ``per_hour`` (points per hour; a minutely series
        needs stronger evidence per point than an hourly one for the same false alarms
        per day), then log-scaled into [0, 1] (0.5 ≈ 1e-5). After an alarm the output
        is held low for ``quiet`` points (longer while the series stays
        anomalous, at most ``max_hold``) unless a stronger score comes: one incident
        raises one alarm, not a storm.
        """
        if not math.isfinite(x):
            return 0.0
        like = 1.0 - min(1.0, (1.0 - self.likelihood(x)) * self.per_hour)
        out = to_unit(like) if self.n >= self.probation else 0.0
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
        self.learn(x)
        return out

    def learn(self, x: float) -> None:
        """Fold a (healthy) value into the estimates; non-finite values are ignored."""
        if not math.isfinite(x):
            return
        raw = max(self.views(x))
        if self.period > 1:
            self._learn_season(x)
        if self.n == 0:
            self.level = self.fmean = self.prev = x
            self.n = 1
            return
        rate = max(self.slow, 1.0 / (self.n + 1))
        spread = self._spread()
        d = x - self.level
        dc = max(-self.clip * spread, min(self.clip * spread, d)) if self.n > 20 else d
        self.level += rate * dc
        self.dev += rate * (abs(dc) - self.dev)
        self.fmean += self.fast * (x - self.fmean)
        st = abs(x - self.prev)
        if self.n > 20:
            st = min(st, self.clip * max(_K_MAD * self.step, 1e-9))
        self.step += rate * (st - self.step)
        self.prev = x
        rr = max(self.raw_rate, 1.0 / (self.n + 1))
        delta = raw - self.raw_mean
        self.raw_mean += rr * delta
        self.raw_var = (1 - rr) * (self.raw_var + rr * delta * delta)
        self.n += 1

    def _learn_season(self, x: float) -> None:
        if not self.season:
            self.season = [x] * self.period
        i = self.n % self.period
        if self.n >= self.period:
            r = x - self.season[i]
            lim = self.clip * max(_K_MAD * self.sdev, 1e-9)
            rc = max(-lim, min(lim, r)) if self.sn > 2 * self.period else r
            self.sdev += max(self.slow, 1.0 / (self.sn + 1)) * (abs(rc) - self.sdev)
            self.season[i] += self.season_rate * rc
            self.sn += 1
        else:
            self.season[i] = x


def to_unit(likelihood: float) -> float:
    """Log-scale a likelihood into [0, 1]: 1 - 1e-10 and beyond → 1.

    >>> round(to_unit(0.5), 3), round(to_unit(1 - 1e-5), 3), to_unit(1.0)
    (0.03, 0.5, 1.0)
    """
    return min(1.0, max(0.0, math.log(max(1.0 - likelihood, 1e-10)) / _LOG_EPS))


def from_unit(score: float) -> float:
    """Inverse of ``to_unit``: the likelihood threshold matching a benchmark threshold.

    >>> round(from_unit(0.5), 6)
    0.99999
    """
    return 1.0 - math.exp(score * _LOG_EPS)
