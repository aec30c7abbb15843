"""Per-app (and per-stream) outcome history, kept online from arrived labels only.

Why: the strongest honest signal of whether a deployment fails is how the same
app (and the same branch/environment, and the same kind of change) fared
*recently*. Each :class:`OutcomeHistory` is updated when an outcome arrives
(``record_outcome``) and when a request arrives (``record_request``), so at
request time it reflects exactly what a live system would know: outcomes of
deployments still running are not in it. All times are event-time seconds
passed in by the caller; nothing reads the clock. Plain slotted classes keep
the state small, deterministic and picklable for worker checkpoints.
"""

from __future__ import annotations

import math
from collections import deque

#: EWMA smoothing factors: fast reacts within a few outcomes, slow tracks the regime.
ALPHAS: tuple[float, float, float] = (0.5, 0.2, 0.05)
#: Outcomes kept for the windowed failure rate.
WINDOW = 20
#: Pseudo-count of the prior in the smoothed all-time rate (cold start shrinkage).
PRIOR_WEIGHT = 4.0
#: "Never happened" stand-in for time-since features: about three years.
NEVER_S = 1e8
_RECENT_REQUESTS_S = 3600.0
#: States of :meth:`OutcomeHistory.state`: unknown, then (success|failure) x run 1, 2, 3+.
N_STATES = 7


def logit(p: float, eps: float = 0.01) -> float:
    """Log-odds of a probability clipped to ``[eps, 1-eps]``.

    >>> round(logit(0.5), 6)
    0.0
    >>> round(logit(1.0), 3), round(logit(0.0), 3)  # clipped, not infinite
    (4.595, -4.595)
    """
    q = min(max(p, eps), 1.0 - eps)
    return math.log(q / (1.0 - q))


def log_age(now: float, then: float | None) -> float:
    """``log1p`` of the seconds since ``then`` (``NEVER_S`` when it never happened).

    >>> log_age(10.0, None) == math.log1p(NEVER_S)
    True
    >>> log_age(10.0, 20.0)  # out-of-order events count as "just now"
    0.0
    """
    if then is None:
        return math.log1p(NEVER_S)
    return math.log1p(max(now - then, 0.0))


class OutcomeHistory:
    """What is known about one stream of deployments (an app, a branch, a segment).

    >>> h = OutcomeHistory()
    >>> h.record_request(0.0)
    >>> h.record_outcome(True, 60.0)
    >>> h.n, h.failures, h.last, h.streak, h.pending
    (1, 1, 1, 1, 0)
    >>> h.record_outcome(False, 120.0)
    >>> h.since_failure, h.streak
    (1, 1)
    """

    __slots__ = (
        "n",
        "failures",
        "last",
        "streak",
        "since_failure",
        "ewma",
        "window",
        "window_sum",
        "t_last_failure",
        "t_last_outcome",
        "t_last_request",
        "pending",
        "recent_requests",
        "state_n",
        "state_failures",
    )

    def __init__(self) -> None:
        self.n = 0
        self.failures = 0
        self.last = -1  # -1 unknown, 0 success, 1 failure
        self.streak = 0  # length of the current run of equal outcomes
        self.since_failure = -1  # successes since the last failure; -1 = never failed
        self.ewma: list[float] | None = None
        self.window: deque[int] = deque(maxlen=WINDOW)
        self.window_sum = 0
        self.t_last_failure: float | None = None
        self.t_last_outcome: float | None = None
        self.t_last_request: float | None = None
        self.pending = 0
        self.recent_requests: deque[float] = deque()
        # Outcomes counted by the state the stream was in when each was *requested*:
        # how this stream behaves after a failure (or a run of successes).
        self.state_n = [0] * N_STATES
        self.state_failures = [0] * N_STATES

    def state(self) -> int:
        """The stream's state: last arrived outcome and its run length (1, 2, 3+).

        >>> h = OutcomeHistory(); h.state()
        0
        >>> h.record_outcome(True, 1.0); h.state()
        4
        """
        if self.last < 0:
            return 0
        return 1 + 3 * self.last + min(self.streak, 3) - 1

    def record_request(self, now: float) -> None:
        """A deployment of this stream was requested (its outcome is now pending)."""
        self.pending += 1
        self.t_last_request = now if self.t_last_request is None else max(now, self.t_last_request)
        self.recent_requests.append(now)
        self._expire(now)

    def forget_request(self) -> None:
        """A pending deployment left without a usable label (aborted, evicted)."""
        self.pending = max(self.pending - 1, 0)

    def record_outcome(self, failed: bool, now: float, state: int | None = None) -> None:
        """An outcome arrived: update counts, runs, EWMAs, the window and the clocks.

        ``state`` is :meth:`state` as it was when this deployment was requested.
        """
        y = 1 if failed else 0
        self.forget_request()
        if state is not None:
            self.state_n[state] += 1
            self.state_failures[state] += y
        self.n += 1
        self.failures += y
        self.streak = self.streak + 1 if self.last == y else 1
        self.last = y
        if y:
            self.since_failure = 0
            self.t_last_failure = now
        elif self.since_failure >= 0:
            self.since_failure += 1
        if self.ewma is None:
            self.ewma = [float(y)] * len(ALPHAS)
        else:
            self.ewma = [(1.0 - a) * e + a * y for a, e in zip(ALPHAS, self.ewma, strict=True)]
        if len(self.window) == WINDOW:
            self.window_sum -= self.window[0]
        self.window.append(y)
        self.window_sum += y
        self.t_last_outcome = now

    def state_tuple(self) -> tuple[object, ...]:
        """All fields as plain values (for digests and equality checks)."""
        return tuple(
            list(v) if isinstance(v, deque) else v
            for v in (getattr(self, name) for name in self.__slots__)
        )

    def _expire(self, now: float) -> None:
        while self.recent_requests and self.recent_requests[0] < now - _RECENT_REQUESTS_S:
            self.recent_requests.popleft()

    def _requests_since(self, since: float) -> int:
        """Requests at or after ``since``, counted without mutating (what-if is read-only)."""
        count = 0
        for t in reversed(self.recent_requests):
            if t < since:
                break
            count += 1
        return count

    def features(self, prefix: str, now: float, prior: float) -> dict[str, float]:
        """History features as seen at ``now``; ``prior`` fills in what is not known yet.

        >>> f = OutcomeHistory().features("app", 0.0, 0.25)
        >>> f["app_new"], round(f["app_rate"], 3) == round(logit(0.25), 3)
        (1.0, True)
        """
        n = self.n
        ew = self.ewma if self.ewma is not None else [prior] * len(ALPHAS)
        # Shrink short histories towards the prior so two outcomes do not look like certainty.
        shrink = [(e * n + prior * PRIOR_WEIGHT) / (n + PRIOR_WEIGHT) for e in ew]
        win_n = len(self.window)
        rate = (self.failures + prior * PRIOR_WEIGHT) / (n + PRIOR_WEIGHT)
        st = self.state()
        state_rate = (self.state_failures[st] + rate * PRIOR_WEIGHT) / (
            self.state_n[st] + PRIOR_WEIGHT
        )
        failed_last = 1.0 if self.last == 1 else 0.0
        ok_last = 1.0 if self.last == 0 else 0.0
        return {
            f"{prefix}_new": 1.0 if n == 0 else 0.0,
            f"{prefix}_log_n": math.log1p(n),
            f"{prefix}_last_failed": failed_last,
            f"{prefix}_last_ok": ok_last,
            f"{prefix}_fail_streak": failed_last * math.log1p(self.streak),
            f"{prefix}_ok_streak": ok_last * math.log1p(self.streak),
            f"{prefix}_ewma_fast": logit(shrink[0]),
            f"{prefix}_ewma_mid": logit(shrink[1]),
            f"{prefix}_ewma_slow": logit(shrink[2]),
            f"{prefix}_rate_window": logit(
                (self.window_sum + prior * PRIOR_WEIGHT) / (win_n + PRIOR_WEIGHT)
            ),
            f"{prefix}_rate": logit(rate),
            f"{prefix}_state_rate": logit(state_rate),
            f"{prefix}_log_since_failure": math.log1p(self.since_failure)
            if self.since_failure >= 0
            else math.log1p(n + 50.0),
            f"{prefix}_age_failure": log_age(now, self.t_last_failure),
            f"{prefix}_age_outcome": log_age(now, self.t_last_outcome),
            f"{prefix}_age_request": log_age(now, self.t_last_request),
            f"{prefix}_pending": math.log1p(self.pending),
            f"{prefix}_requests_1h": math.log1p(self._requests_since(now - _RECENT_REQUESTS_S)),
        }


def drop_idle_streams(histories: dict[str, OutcomeHistory], before: float) -> int:
    r"""Forget sub-app streams (branch, trigger) with nothing pending and no request
    since ``before``, so state stays bounded; app and platform streams are kept. A branch
    that comes back later starts again from its app's rate. Returns how many were dropped.

    >>> hs = {"app\x1fa": OutcomeHistory(), "env\x1fa\x1fold": OutcomeHistory()}
    >>> hs["env\x1fa\x1fold"].t_last_request = 5.0
    >>> drop_idle_streams(hs, before=10.0), sorted(hs)
    (1, ['app\x1fa'])
    """
    idle = [
        key
        for key, h in histories.items()
        if not key.startswith(("app\x1f", "*"))
        and h.pending == 0
        and (h.t_last_request or 0.0) < before
    ]
    for key in idle:
        del histories[key]
    return len(idle)
