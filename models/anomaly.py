"""Learned thresholds: an online anomaly score per app × KPI, learned from healthy history.

Each value is *scored before it is learned*. The guard learns only healthy windows
(between deployments and after a successful bake) and scores the new version's
windows, so a team gets a threshold tuned to its own service without writing one.

``LevelScorer`` is what the guard keeps per app × KPI. It is a thin wrapper around
``models.kpi_detector.PointDetector`` — the very detector the KPI benchmark
(``make bench-kpi``, NAB-style scoring) measures — so the benchmark figure is a figure
for what runs live. The guard calls the detector's two halves separately: ``learn``
on healthy ticks, the pure ``likelihood`` on the new version's windows (scoring a
window never teaches the model the new version's behaviour). The score is the
detector's anomaly likelihood in the KPI's bad direction; the benchmark's [0, 1]
output is its log-scaled form with a per-hour alarm budget, so a benchmark threshold
maps to a live one by ``live_threshold``.

Two deliberate differences from the benchmark run: no probationary silence (the
guard's ``anomaly.min_history`` plays that role) and no alarm hold-off (the guard's
sustain rules and verdict machine turn repeated breaches into one rollback).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.kpi_detector import PointDetector, from_unit


def live_threshold(bench_threshold: float, interval_s: float) -> float:
    """The per-tick likelihood threshold with the same alarm budget per hour as a
    benchmark threshold (``PointDetector.score`` with ``per_hour = 3600 / interval_s``).

    >>> round(live_threshold(0.5, 3600.0), 6), round(live_threshold(0.5, 10.0), 9)
    (0.99999, 0.999999972)
    """
    per_hour = max(1.0, 3600.0 / interval_s)
    return 1.0 - (1.0 - from_unit(bench_threshold)) / per_hour


def _live_detector() -> PointDetector:
    return PointDetector(probation=0)


@dataclass
class LevelScorer:
    """Learned threshold of one KPI; ``score`` in [0, 1] is the anomaly likelihood.

    >>> s = LevelScorer()
    >>> for v in [1.0, 1.1, 0.9, 1.0, 1.05, 0.95] * 10:
    ...     s.learn(v)
    >>> s.score(1.0) < 0.8, s.score(3.0) > 0.999, s.score(3.0, "down") < 0.8
    (True, True, True)
    """

    detector: PointDetector = field(default_factory=_live_detector)

    @property
    def n(self) -> int:
        """Healthy values learned so far."""
        return self.detector.n

    def score(self, value: float, direction: str = "up") -> float:
        """How anomalous ``value`` is in the bad direction (≈0.5 typical, → 1 extreme); pure."""
        if self.n < 2:
            return 0.0
        return self.detector.likelihood(value, direction)

    def learn(self, value: float) -> None:
        """Fold a healthy value into the detector (non-finite values are ignored)."""
        self.detector.learn(value)

    @property
    def level(self) -> float | None:
        """The learned typical value (a baseline for relative rules), once learned."""
        return self.detector.level if self.n >= 2 else None
