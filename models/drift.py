"""Concept-drift detection on the prequential loss, and what to do about it.

Detection: River's ADWIN watches the stream of per-label log losses; a change in
their mean (in either direction, but we act only on an *increase*) is drift.

Recovery policy (documented here, implemented by ``SuccessPredictor``):

1. **Flag**: the next ``ModelMetrics`` carries ``drift_detected=True``; the count and the
   event time of the last drift are in ``details`` and at ``GET /v1/models/success``.
2. **Re-tune the alarm**: the threshold histogram is reset, so the alarm threshold is
   re-chosen from post-drift labels only.
3. **Challenger**: a warm copy of the champion with fresh (large) AdaGrad step sizes
   learns from the drift point alongside it, so it re-fits to the new regime quickly
   (the per-app histories are features, not model state, so they carry over).
   After ``min_labels`` labels the challenger replaces the champion if its decayed log
   loss since the drift is lower by more than ``margin`` (noise must not swap models);
   a promoted challenger bumps the model generation (``model_version``). A challenger that
   has not won after ``max_labels`` labels is dropped.
4. While a challenger runs, further detections only flag; they do not restart it.

Everything is event-driven and deterministic, so a replay takes the same decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from river import drift


@dataclass
class DriftMonitor:
    """ADWIN on the log loss, ignoring the warm-up when every model is bad.

    >>> m = DriftMonitor(warmup=10)
    >>> any(m.update(0.2) for _ in range(300))
    False
    >>> any(m.update(2.0) for _ in range(300))
    True
    >>> m.detections
    1
    """

    delta: float = 0.002
    warmup: int = 500
    seen: int = 0
    detections: int = 0
    last_detection_at: float | None = None
    _adwin: drift.ADWIN = field(default_factory=lambda: drift.ADWIN(delta=0.002))
    _mean_before: float = 0.0

    def __post_init__(self) -> None:
        self._adwin = drift.ADWIN(delta=self.delta)

    def estimation(self) -> float:
        """ADWIN's current mean loss over its adaptive window."""
        return float(self._adwin.estimation)

    def update(self, loss: float, at: float | None = None) -> bool:
        """Add one loss; True when the loss has drifted *upwards*."""
        self.seen += 1
        before = self._adwin.estimation
        self._adwin.update(min(loss, 5.0))
        if self.seen <= self.warmup or not self._adwin.drift_detected:
            return False
        if self._adwin.estimation <= before:
            return False  # the loss dropped: nothing to recover from
        self.detections += 1
        self.last_detection_at = at
        return True


@dataclass
class ChallengerRace:
    """Decayed log losses of champion and challenger since the challenger started.

    >>> r = ChallengerRace(min_labels=2, max_labels=10)
    >>> r.update(0.7, 0.3); r.update(0.7, 0.3)
    >>> r.verdict()
    'promote'
    """

    min_labels: int = 1000
    max_labels: int = 5000
    decay: float = 0.995
    margin: float = 0.02
    labels: int = 0
    champion_loss: float = 0.0
    challenger_loss: float = 0.0

    def update(self, champion: float, challenger: float) -> None:
        self.labels += 1
        self.champion_loss = self.decay * self.champion_loss + champion
        self.challenger_loss = self.decay * self.challenger_loss + challenger

    def verdict(self) -> str:
        """``promote``, ``drop`` or ``continue``."""
        if self.labels < self.min_labels:
            return "continue"
        if self.challenger_loss < self.champion_loss * (1.0 - self.margin):
            return "promote"
        return "drop" if self.labels >= self.max_labels else "continue"
