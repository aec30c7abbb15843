"""Per-strategy outcome posteriors, learned online: the memory of the strategy bandit.

A deployment ends ``succeeded``, ``rolled_back`` (a bad version caught while
exposure was still limited) or ``failed`` (not caught). How likely a version is
to be bad is the success model's job (``p_failure``, a fresh number for every
request); what a *strategy* changes is two things, and those are learned here:

* its **catch rate** ``d``: of the incidents, the share caught in time
  (rolled back rather than failed) - Beta posterior, rolled_back = caught,
  failed = missed. A canary of an app with good KPIs catches most, a canary
  of a batch worker little;
* its **incident ratio** ``r``: incidents per unit of predicted failure
  probability (``P(incident) = r * p_failure``) - Gamma posterior over
  incidents vs. summed ``p_failure``, which absorbs hazards a strategy adds
  (a monolith running two versions side by side) and the predictor's bias.

Both are kept at two levels: peers (same app type) and the app itself
(per environment). The peer posterior, itself shrunk to a weak domain prior,
is the prior of each app, with a bounded weight, so an app's own history
overrides its peers' after a handful of incidents. Thompson sampling draws
``(d, r)`` per strategy with a generator the caller seeds from the request,
so the same request on the same state always gets the same draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OUTCOMES: tuple[str, ...] = ("succeeded", "rolled_back", "failed")

#: Prior probability that a strategy catches a bad version before full exposure.
DETECTION_PRIOR: dict[str, float] = {
    "canary": 0.7,
    "shadow": 0.6,
    "blue_green": 0.5,
    "rolling": 0.35,
    "recreate": 0.1,
}
#: Request-less workloads give canary/shadow analysis little to judge by.
LOW_TRAFFIC_TYPES: frozenset[str] = frozenset({"worker", "batch"})
LOW_TRAFFIC_DETECTION: dict[str, float] = {"canary": 0.35, "shadow": 0.15}


def detection_prior(strategy: str, app_type: str) -> float:
    """Domain prior of the catch rate.

    >>> detection_prior("canary", "web"), detection_prior("canary", "batch")
    (0.7, 0.35)
    """
    if app_type in LOW_TRAFFIC_TYPES and strategy in LOW_TRAFFIC_DETECTION:
        return LOW_TRAFFIC_DETECTION[strategy]
    return DETECTION_PRIOR[strategy]


@dataclass(frozen=True)
class Context:
    """What the posteriors are keyed by for one request."""

    app: str
    environment: str
    app_type: str
    p_failure: float

    @property
    def app_key(self) -> tuple[str, str]:
        return (self.app, self.environment)


@dataclass
class Stats:
    """Sufficient statistics: labelled runs, summed p_failure, caught and missed incidents."""

    runs: float = 0.0
    p_sum: float = 0.0
    caught: float = 0.0
    missed: float = 0.0

    def add(self, p: float, outcome: str, keep: float = 1.0) -> None:
        self.runs, self.p_sum = self.runs * keep + 1.0, self.p_sum * keep + p
        self.caught = self.caught * keep + (outcome == "rolled_back")
        self.missed = self.missed * keep + (outcome == "failed")


@dataclass(frozen=True)
class Belief:
    """Posterior parameters of one strategy in one context."""

    caught: float  # Beta alpha of the catch rate
    missed: float  # Beta beta of the catch rate
    shape: float  # Gamma shape of the incident ratio
    rate: float  # Gamma rate of the incident ratio

    @property
    def catch_rate(self) -> float:
        return self.caught / (self.caught + self.missed)

    @property
    def ratio(self) -> float:
        return self.shape / self.rate


@dataclass
class OutcomePosteriors:
    """Peer- and app-level statistics per strategy, and the posteriors they imply.

    ``prior_runs``: weight (in incidents) of the domain prior on the catch rate;
    ``prior_p``: weight (in summed p_failure) of the prior incident ratio of 1;
    ``peer_weight_*``: the most an app's peers count in its own posterior;
    ``forgetting`` < 1 discounts an app's older runs of a strategy at each new one.
    """

    prior_runs: float = 4.0
    prior_p: float = 1.0
    peer_weight_catch: float = 6.0
    peer_weight_p: float = 1.5
    forgetting: float = 0.99
    temperature: float = 1.0
    sample_ratio: bool = True
    app_ratio: bool = True
    peer: dict[tuple[str, str], Stats] = field(default_factory=dict)
    app: dict[tuple[str, str, str], Stats] = field(default_factory=dict)

    def belief(self, ctx: Context, strategy: str) -> Belief:
        """Posterior of ``strategy`` for this app: domain prior -> peers -> the app."""
        d0 = detection_prior(strategy, ctx.app_type)
        peer = self.peer.get((ctx.app_type, strategy), Stats())
        peer_d = (self.prior_runs * d0 + peer.caught) / (
            self.prior_runs + peer.caught + peer.missed)
        peer_r = (self.prior_p + peer.caught + peer.missed) / (self.prior_p + peer.p_sum)
        own = self.app.get((*ctx.app_key, strategy), Stats())
        wc, wp = self.peer_weight_catch, self.peer_weight_p
        return Belief(
            caught=wc * peer_d + own.caught,
            missed=wc * (1.0 - peer_d) + own.missed,
            shape=wp * peer_r if self.app_ratio else self.prior_p + peer.caught + peer.missed,
            rate=wp if self.app_ratio else self.prior_p + peer.p_sum,
        ) if not self.app_ratio else Belief(
            caught=wc * peer_d + own.caught,
            missed=wc * (1.0 - peer_d) + own.missed,
            shape=wp * peer_r + own.caught + own.missed,
            rate=wp + own.p_sum,
        )

    def probs(self, ctx: Context, strategy: str, catch: float, ratio: float) -> np.ndarray:
        """(succeeded, rolled_back, failed) probabilities for a catch rate and ratio."""
        incident = min(0.99, ratio * min(max(ctx.p_failure, 0.005), 1.0))
        return np.array([1.0 - incident, incident * catch, incident * (1.0 - catch)])

    def mean(self, ctx: Context, strategy: str) -> np.ndarray:
        b = self.belief(ctx, strategy)
        return self.probs(ctx, strategy, b.catch_rate, b.ratio)

    def sample(self, ctx: Context, strategy: str, rng: np.random.Generator) -> np.ndarray:
        """One Thompson draw of (succeeded, rolled_back, failed) probabilities.

        The peer catch rate is drawn first and becomes the centre of the app's
        prior, so a strategy that peers have barely tried stays uncertain for
        every app instead of being judged on its first unlucky runs.
        """
        k = 1.0 / max(self.temperature, 1e-6) ** 2
        d0 = detection_prior(strategy, ctx.app_type)
        peer = self.peer.get((ctx.app_type, strategy), Stats())
        peer_d = float(rng.beta(k * (self.prior_runs * d0 + peer.caught),
                                k * (self.prior_runs * (1.0 - d0) + peer.missed)))
        own = self.app.get((*ctx.app_key, strategy), Stats())
        wc = self.peer_weight_catch
        catch = float(rng.beta(k * (wc * peer_d + own.caught),
                               k * (wc * (1.0 - peer_d) + own.missed)))
        b = self.belief(ctx, strategy)
        ratio = float(rng.gamma(b.shape * k, 1.0 / (b.rate * k))) if self.sample_ratio \
            else b.ratio
        return self.probs(ctx, strategy, catch, ratio)

    def counts(self, ctx: Context, strategy: str) -> tuple[Stats, Stats]:
        """(peer statistics, this app's statistics) for explanations."""
        return (self.peer.get((ctx.app_type, strategy), Stats()),
                self.app.get((*ctx.app_key, strategy), Stats()))

    def update(self, ctx: Context, strategy: str, outcome: str) -> None:
        """Learn one labelled outcome (``aborted`` carries no label and is not passed here)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome: expected one of {OUTCOMES}, got {outcome!r}")
        p = min(max(ctx.p_failure, 0.005), 1.0)
        self.peer.setdefault((ctx.app_type, strategy), Stats()).add(p, outcome)
        self.app.setdefault((*ctx.app_key, strategy), Stats()).add(p, outcome, self.forgetting)
