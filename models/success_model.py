"""The online learner behind the success predictor: scaled logistic regression.

Why logistic regression: its output is a calibrated log-odds (it minimises log
loss online), every prediction decomposes exactly into signed per-feature
contributions (the explanation), and River runs it at tens of thousands of
updates per second, so one worker keeps up with any CI fleet. Non-linearity
lives in the features (logits of rates, log ages, streaks), not in the learner.
"""

from __future__ import annotations

import copy
import math

from river import linear_model, optim, preprocessing

from schemas import Prediction


def sigmoid(z: float) -> float:
    """Numerically safe logistic function.

    >>> sigmoid(0.0), sigmoid(-1000.0)
    (0.5, 0.0)
    """
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class OnlineLogit:
    """River ``StandardScaler`` feeding ``LogisticRegression``, kept as two parts.

    They are separate (not a River pipeline) so the explanation can read the scaled
    value each weight multiplies.

    >>> m = OnlineLogit()
    >>> for i in range(200):
    ...     m.learn({"x": float(i % 2)}, i % 2)
    >>> m.predict({"x": 1.0}) > 0.5 > m.predict({"x": 0.0})
    True
    """

    def __init__(self, lr: float = 0.05, l2: float = 1e-5) -> None:
        self.lr = lr
        self.scaler = preprocessing.StandardScaler()
        # AdaGrad: per-feature step sizes shrink as evidence accumulates, which suits
        # a long stream where rare features (new apps, rare flags) still need to move.
        self.model = linear_model.LogisticRegression(
            optimizer=optim.AdaGrad(lr), l2=l2, intercept_lr=0.01
        )
        self.learned = 0

    def fork(self) -> OnlineLogit:
        """A warm copy with fresh AdaGrad step sizes: it adapts fast after a drift.

        >>> m = OnlineLogit(); m.learn({"x": 1.0}, 1)
        >>> f = m.fork()
        >>> f.predict({"x": 1.0}) == m.predict({"x": 1.0})
        True
        >>> f.model.optimizer is m.model.optimizer
        False
        """
        twin = copy.deepcopy(self)
        twin.model.optimizer = optim.AdaGrad(self.lr)
        return twin

    def _scaled(self, x: dict[str, float]) -> dict[str, float]:
        return self.scaler.transform_one(x)

    def score(self, x: dict[str, float]) -> tuple[float, dict[str, float]]:
        """Failure log-odds and each feature's signed contribution to it (one pass)."""
        w = self.model.weights
        contrib = {k: w.get(k, 0.0) * v for k, v in self._scaled(x).items()}
        z = self.model.intercept + sum(contrib.values())
        return max(min(z, 30.0), -30.0), contrib

    def log_odds(self, x: dict[str, float]) -> float:
        return self.score(x)[0]

    def predict(self, x: dict[str, float]) -> float:
        return sigmoid(self.log_odds(x))

    def state(self) -> tuple[object, ...]:
        """Everything learned, sorted, for :meth:`SuccessPredictor.state_digest`."""
        sc, m = self.scaler, self.model
        g2 = getattr(m.optimizer, "g2", {})
        return (
            self.learned,
            m.intercept,
            sorted(m.weights.items()),
            sorted(dict(g2).items()),
            sorted(sc.counts.items()),
            sorted(sc.means.items()),
            sorted(sc.vars.items()),
        )

    def learn(self, x: dict[str, float], y: int) -> None:
        self.scaler.learn_one(x)
        self.model.learn_one(self._scaled(x), bool(y))
        self.learned += 1


class PlattCalibrator:
    """Online Platt scaling of a log-odds: ``p = sigmoid(a * z + b)``, fitted by SGD.

    Why: the learner's raw log-odds drift in scale while it learns; a two-parameter
    recalibration on arrived labels keeps the probability honest (Brier, log loss).

    >>> c = PlattCalibrator()
    >>> round(c.calibrate(math.log(0.3 / 0.7)), 3)
    0.3
    """

    __slots__ = ("a", "b", "lr")

    def __init__(self, lr: float = 0.005) -> None:
        self.a = 1.0
        self.b = 0.0
        self.lr = lr

    def calibrate(self, z: float) -> float:
        return sigmoid(self.a * z + self.b)

    def learn(self, z: float, y: int) -> None:
        g = self.calibrate(z) - y
        self.a -= self.lr * g * z
        self.b -= self.lr * g


class StateBias:
    """Online log-odds offset per (app, state of its latest arrived outcomes, trigger).

    Why: how strongly a failure predicts the next one differs between apps (a flaky
    suite vs a broken build); the shared linear model cannot express that, a small
    table of per-app state offsets fitted by SGD on log loss can. Bounded by apps x 12.

    >>> b = StateBias()
    >>> k = b.key("app\x1fshop", {"env_last_failed": 1.0})
    >>> for _ in range(50):
    ...     b.learn(k, 0.0 + b.offset(k), 1)
    >>> b.offset(k) > 0.5, b.offset(b.key("app\x1fother", {}))
    (True, 0.0)
    """

    __slots__ = ("table", "lr")
    NAME = "app_state_offset"  # how the offset is named in explanations

    def __init__(self, lr: float = 0.03) -> None:
        self.table: dict[tuple[str, int], float] = {}
        self.lr = lr

    @staticmethod
    def key(app_key: str, x: dict[str, float]) -> tuple[str, int]:
        bits = ("env_last_failed", "env_last_ok", "app_last_failed", "is_pull_request")
        return app_key, sum(1 << i for i, name in enumerate(bits) if x.get(name, 0.0) > 0.5)

    def offset(self, key: tuple[str, int]) -> float:
        return self.table.get(key, 0.0)

    def learn(self, key: tuple[str, int], z: float, y: int) -> None:
        """One SGD step on log loss, ``z`` being the full log-odds predicted for it."""
        self.table[key] = self.offset(key) - self.lr * (sigmoid(z) - y)


class Pending:
    """What is held for a deployment between its prediction and its outcome."""

    __slots__ = ("features", "prediction", "z_champion", "z_challenger", "keys", "states", "at")

    def __init__(
        self,
        features: dict[str, float],
        prediction: Prediction,
        z_champion: float,
        keys: tuple[str, ...],
        states: tuple[int, ...],
        at: float,
    ) -> None:
        self.features = features
        self.prediction = prediction
        self.z_champion = z_champion
        self.z_challenger: float | None = None
        self.keys = keys
        self.states = states
        self.at = at
