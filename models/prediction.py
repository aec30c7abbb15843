"""Success prediction: predict at request time, learn once when the outcome arrives.

``SuccessPredictor`` implements ``streams.pipeline.Predictor``. On a request it
builds features from the request and the online outcome history (models/features),
scores them, and *holds* the features as pending under the deployment id. When a
``DeploymentFinished`` arrives, the pending entry is popped and learned exactly
once: a duplicate finish, a finish with no prediction, or a re-delivered request
for an already-learned deployment changes nothing. All state (histories, learner,
pending features, metrics, drift) lives in this one object so the worker can
checkpoint it with pickle together with the offsets it covers; nothing reads the
clock, so a replay reproduces the live run exactly.

Probability = Platt-calibrated log-odds of the linear model plus a per-app state
offset (StateBias), blended with the running base rate while young (cold start).
A new app gets history features filled from that prior. Alarm = p >= a threshold
re-chosen online to maximise F1 (models/online_metrics). Drift policy: models/drift.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import OrderedDict, deque
from datetime import UTC, datetime
from typing import Any

from models.drift import ChallengerRace, DriftMonitor
from models.features import build_features, stream_keys
from models.history_features import PRIOR_WEIGHT, OutcomeHistory, drop_idle_streams
from models.online_metrics import PrequentialMetrics, ThresholdSelector, log_loss
from models.success_model import OnlineLogit, Pending, PlattCalibrator, StateBias, sigmoid
from schemas import (
    DeploymentFinished,
    DeploymentRequested,
    FeatureContribution,
    ModelMetrics,
    Prediction,
    derived_id,
)

FAILED_OUTCOMES = frozenset({"failed", "rolled_back"})
SUCCEEDED_OUTCOMES = frozenset({"succeeded"})  # "aborted" carries no label: dropped


class SuccessPredictor:
    """Online failure-probability model with delayed labels (see module docstring)."""

    def __init__(
        self,
        prior: float = 0.25,
        metrics_every: int = 500,
        explain_top: int = 5,
        max_pending: int = 200_000,
        remember_learned: int = 20_000,
        idle_stream_days: float = 90.0,
        cold_start_labels: int = 50,
    ) -> None:
        self.prior0 = prior
        self.metrics_every = metrics_every
        self.explain_top = explain_top
        self.max_pending = max_pending
        self.cold_start_labels = cold_start_labels
        self.histories: dict[str, OutcomeHistory] = {}
        self.model = OnlineLogit()
        self.calibrator = PlattCalibrator()
        self.bias = StateBias()
        self.challenger: OnlineLogit | None = None
        self.race: ChallengerRace | None = None
        self.generation = 1
        self.pending: OrderedDict[str, Pending] = OrderedDict()
        self.idle_stream_s = idle_stream_days * 86400.0
        self.requests = 0
        self.learned_ids: deque[str] = deque(maxlen=remember_learned)
        self._learned_set: set[str] = set()
        self.metrics_ = PrequentialMetrics()
        self.threshold = ThresholdSelector()
        self.drift = DriftMonitor()
        self.labels = 0
        self.failures = 0
        self.ignored = {"duplicate_or_unknown": 0, "no_label": 0, "evicted": 0}
        self.drift_since_last_emit = False

    # --- public interface ------------------------------------------------------
    @property
    def model_version(self) -> str:
        return f"success-lr-g{self.generation}"

    def prior(self) -> float:
        """Running base rate, starting from the configured prior (cold start)."""
        return (self.failures + self.prior0 * PRIOR_WEIGHT) / (self.labels + PRIOR_WEIGHT)

    def predict(self, req: DeploymentRequested) -> Prediction:
        """Score ``req`` and hold its features until its outcome arrives."""
        held = self.pending.get(req.deployment_id)
        if held is not None:  # re-delivered request: same answer, nothing stored twice
            return held.prediction
        features = build_features(req, self.histories, self.prior())
        z, contrib = self._score(req, features)
        prediction = self._prediction(req, features, z, contrib)
        if req.deployment_id in self._learned_set:
            return prediction  # outcome already learned: never learn it again
        now = req.occurred_at.timestamp()
        keys = stream_keys(req)
        streams = [self.histories.setdefault(key, OutcomeHistory()) for key in keys]
        states = tuple(h.state() for h in streams)
        for history in streams:
            history.record_request(now)
        entry = Pending(features, prediction, z, keys, states, now)
        if self.challenger is not None:
            entry.z_challenger = self.challenger.log_odds(features) + contrib[StateBias.NAME]
        self.pending[req.deployment_id] = entry
        self.requests += 1
        if self.requests % 10_000 == 0:
            drop_idle_streams(self.histories, now - self.idle_stream_s)
        while len(self.pending) > self.max_pending:
            _, old = self.pending.popitem(last=False)
            self._forget(old)
            self.ignored["evicted"] += 1
        return prediction

    def what_if(self, req: DeploymentRequested) -> Prediction:
        """Score ``req`` against the current state without storing anything."""
        features = build_features(req, self.histories, self.prior())
        return self._prediction(req, features, *self._score(req, features))

    def learn(self, fin: DeploymentFinished) -> ModelMetrics | None:
        """Learn the outcome of a pending prediction, once; maybe return metrics."""
        entry = self.pending.pop(fin.deployment_id, None)
        if entry is None:
            self.ignored["duplicate_or_unknown"] += 1
            return None
        if fin.outcome not in FAILED_OUTCOMES and fin.outcome not in SUCCEEDED_OUTCOMES:
            self._forget(entry)
            self.ignored["no_label"] += 1
            return None
        y = 1 if fin.outcome in FAILED_OUTCOMES else 0
        now = fin.occurred_at.timestamp()
        self._remember(fin.deployment_id)
        p = entry.prediction.p_failure
        self.metrics_.update(p, y, entry.prediction.alarm)
        self.threshold.update(p, y)
        loss = log_loss(p, y)
        if self.drift.update(loss, now):
            self.drift_since_last_emit = True
            self.threshold.reset()
            if self.challenger is None:
                self.challenger, self.race = self.model.fork(), ChallengerRace()
        self._train(entry, y)
        for key, state in zip(entry.keys, entry.states, strict=True):
            self.histories.setdefault(key, OutcomeHistory()).record_outcome(bool(y), now, state)
        self.labels += 1
        self.failures += y
        if self.labels % self.metrics_every:
            return None
        return self._metrics_record(fin)

    def metrics(self) -> dict[str, Any]:
        """Prequential metrics, threshold, drift state and bookkeeping, for the API."""
        out: dict[str, Any] = dict(self.metrics_.as_dict())
        out.update(
            model="success",
            model_version=self.model_version,
            threshold=self.threshold.threshold,
            labels_learned=self.labels,
            pending=len(self.pending),
            apps=sum(1 for k in self.histories if k.startswith("app\x1f")),
            prior=self.prior(),
            ignored=dict(self.ignored),
            drift={
                "detector": "ADWIN(log loss)",
                "detections": self.drift.detections,
                "last_detection_at": _iso(self.drift.last_detection_at),
                "challenger_running": self.challenger is not None,
                "challenger_labels": self.race.labels if self.race else 0,
            },
        )
        return out

    def state_digest(self) -> str:
        """SHA-256 of the learned state in canonical form.

        Two predictors with the same digest answer and learn identically. Why not
        compare pickles: pickle bytes also encode which equal strings happen to be the
        same object, which differs between a restored copy and the original.
        """
        h = hashlib.sha256()
        for learner in (self.model, self.challenger):
            if learner is not None:
                h.update(repr(learner.state()).encode())
        h.update(repr((self.calibrator.a, self.calibrator.b, self.generation)).encode())
        h.update(repr(sorted(self.bias.table.items())).encode())
        for key in sorted(self.histories):
            h.update(key.encode() + repr(self.histories[key].state_tuple()).encode())
        for dep, entry in self.pending.items():
            h.update(repr((dep, entry.prediction.p_failure, entry.states)).encode())
        h.update(repr((self.labels, self.failures, sorted(self.ignored.items()))).encode())
        th, dr = self.threshold, self.drift
        tail = (th.threshold, th.pos, th.neg, dr.seen, dr.detections, dr.estimation())
        h.update(repr((self.metrics_.as_dict(), tail, list(self.learned_ids))).encode())
        return h.hexdigest()

    # --- internals -------------------------------------------------------------
    def _score(self, req: DeploymentRequested, f: dict[str, float]) -> tuple[float, dict]:
        z, contrib = self.model.score(f)
        contrib[StateBias.NAME] = self.bias.offset(self.bias.key(stream_keys(req)[0], f))
        return z + contrib[StateBias.NAME], contrib

    def _probability(self, z: float) -> float:
        p_model = self.calibrator.calibrate(z)
        w = self.model.learned / (self.model.learned + self.cold_start_labels)
        return min(max(w * p_model + (1.0 - w) * self.prior(), 0.0), 1.0)

    def _prediction(
        self,
        req: DeploymentRequested,
        features: dict[str, float],
        z: float,
        contrib: dict[str, float],
    ) -> Prediction:
        p = self._probability(z)
        threshold = self.threshold.threshold
        return Prediction(
            id=derived_id(req.id, "prediction"),
            occurred_at=req.occurred_at,
            deployment_id=req.deployment_id,
            app=req.app,
            environment=req.environment,
            request_id=req.id,
            p_failure=p,
            alarm=1 if p >= threshold else 0,
            threshold=threshold,
            explanation=self._explain(features, contrib),
            model_version=self.model_version,
        )

    def _explain(
        self, features: dict[str, float], contrib: dict[str, float]
    ) -> list[FeatureContribution]:
        top = heapq.nsmallest(self.explain_top, contrib.items(), key=_by_size)
        f = features.get  # the offset has no feature value: reported as 1.0
        return [FeatureContribution(feature=k, value=f(k, 1.0), weight=w) for k, w in top if w]

    def _train(self, entry: Pending, y: int) -> None:
        self.calibrator.learn(entry.z_champion, y)
        self.bias.learn(self.bias.key(entry.keys[0], entry.features), entry.z_champion, y)
        self.model.learn(entry.features, y)
        if self.challenger is None or self.race is None:
            return
        z_ch = entry.z_challenger
        if z_ch is None:
            z_ch = self.challenger.log_odds(entry.features)
        self.race.update(log_loss(sigmoid(entry.z_champion), y), log_loss(sigmoid(z_ch), y))
        self.challenger.learn(entry.features, y)
        verdict = self.race.verdict()
        if verdict == "promote":
            self.model, self.generation = self.challenger, self.generation + 1
            self.calibrator = PlattCalibrator()
        if verdict != "continue":
            self.challenger, self.race = None, None

    def _forget(self, entry: Pending) -> None:
        for key in entry.keys:
            history = self.histories.get(key)
            if history is not None:
                history.forget_request()

    def _remember(self, deployment_id: str) -> None:
        if len(self.learned_ids) == self.learned_ids.maxlen:
            self._learned_set.discard(self.learned_ids[0])
        self.learned_ids.append(deployment_id)
        self._learned_set.add(deployment_id)

    def _metrics_record(self, fin: DeploymentFinished) -> ModelMetrics:
        m = self.metrics_.as_dict()
        drifted, self.drift_since_last_emit = self.drift_since_last_emit, False
        details = {k: v for k, v in self.metrics().items() if k not in ModelMetrics.model_fields}
        return ModelMetrics(
            id=derived_id(fin.id, "model.metrics"),
            occurred_at=fin.occurred_at,
            model="success",
            model_version=self.model_version,
            n=int(m["n"] or 0),
            roc_auc=m["roc_auc"],
            log_loss=m["log_loss"],
            brier=m["brier"],
            f1=m["f1"],
            threshold=self.threshold.threshold,
            drift_detected=drifted,
            details=details,
        )


def _by_size(item: tuple[str, float]) -> tuple[float, str]:
    """Largest absolute contribution first; ties by name so the order is deterministic."""
    return (-abs(item[1]), item[0])


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()
