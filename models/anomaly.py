"""Learned thresholds: an online anomaly score per app × KPI, learned from healthy history.

Each value is *scored before it is learned*. The guard learns only healthy windows
(between deployments and after a successful bake) and scores the new version's
windows, so a team gets a threshold tuned to its own service without writing one.

``LevelScorer`` is the light model the guard keeps per app × KPI: an exponentially
weighted mean and mean absolute deviation (robust to single outliers because each
update is clipped) giving a one-sided tail probability in the bad direction.
The point-by-point detector for raw series (the KPI benchmark) is ``models.kpi_detector``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class LevelScorer:
    """Online level/scale of one KPI; ``score`` in [0, 1] is the tail probability's complement.

    >>> s = LevelScorer()
    >>> for v in [1.0, 1.1, 0.9, 1.0, 1.05, 0.95] * 10:
    ...     s.learn(v)
    >>> s.score(1.0) < 0.8, s.score(3.0) > 0.999
    (True, True)
    """

    alpha: float = 0.05
    n: int = 0
    mean: float = 0.0
    mad: float = 0.0

    def score(self, value: float, direction: str = "up") -> float:
        """How anomalous ``value`` is in the bad direction (0.5 = typical, → 1 = extreme)."""
        if self.n < 2:
            return 0.0
        scale = max(self.mad * 1.2533, abs(self.mean) * 1e-3, 1e-12)
        z = (value - self.mean) / scale
        if direction == "down":
            z = -z
        return 1.0 - 0.5 * math.erfc(z / math.sqrt(2.0))

    def learn(self, value: float) -> None:
        """Fold a healthy value into the level and scale (clipped at 6 deviations)."""
        if not math.isfinite(value):
            return
        if self.n == 0:
            self.mean, self.n = value, 1
            return
        scale = max(self.mad * 1.2533, abs(self.mean) * 1e-3, 1e-12)
        dev = value - self.mean
        if self.n >= 10:
            dev = max(-6 * scale, min(6 * scale, dev))
        rate = max(self.alpha, 1.0 / (self.n + 1))
        self.mean += rate * dev
        self.mad += rate * (abs(dev) - self.mad)
        self.n += 1

    @property
    def level(self) -> float | None:
        """The learned typical value (a baseline for relative rules), once learned."""
        return self.mean if self.n >= 2 else None
