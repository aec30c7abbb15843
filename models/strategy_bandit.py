"""Per-strategy outcome posteriors, learned online: the memory of the strategy bandit.

A deployment ends ``succeeded``, ``rolled_back`` (a bad version caught while
exposure was still limited) or ``failed`` (not caught). How likely a version is
to be bad is the success model's job (``p_failure``, a fresh number for every
request); what a *strategy* changes is two things, and those are learned here:

* its **catch rate** ``d``: of the incidents, the share caught in time
  (rolled back rather than failed) - rolled_back = caught, failed = missed.
  A canary of an app with good KPIs catches most, a canary of a batch worker
  little;
* its **incident ratio** ``r``: incidents per unit of predicted failure
  probability (``P(incident) = r * p_failure``), which absorbs hazards a
  strategy adds (a monolith running two versions side by side).

Three levels, each the prior of the next:

1. peers (same app type) per strategy, shrunk to a domain prior: Beta on the
   catch rate, Gamma-Poisson on the incident ratio (its prior is strong: a calibrated
   success model means r is about 1, and a few unlucky incidents must not
   condemn a strategy for a whole app type);
2. the app across strategies: how visible this app's bad versions are in its
   KPIs (caught vs. the catches its peers would predict) and how much riskier
   it is than predicted (incidents vs. expected). These are properties of the
   app, so what one strategy taught transfers to the others;
3. the app per strategy (per environment): a Beta centred on the above with a
   bounded weight, so an app's own history overrides after a few incidents.

Thompson sampling draws the peer and the app-strategy catch rates (tempered:
``temperature`` < 1 narrows the draws, because exploring a worse strategy on
a production deployment has a real cost) with a generator the caller seeds
from the request, so the same request on the same state gets the same draw.
The incident ratio enters at its posterior mean: sampling it independently
per strategy mostly adds noise common to every strategy.
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
    ratio: float  # posterior mean incident ratio (incidents per unit of p_failure)

    @property
    def catch_rate(self) -> float:
        return self.caught / (self.caught + self.missed)


@dataclass
class OutcomePosteriors:
    """Statistics at three levels and the posteriors they imply (weights in the docstring).

    ``prior_runs``: weight (in incidents) of the domain prior on peer catch rates;
    ``prior_p``: weight (in summed p_failure) of the peer incident ratio prior of 1;
    ``app_runs``/``app_p``: weights of "like its peers" in the app-wide factors;
    ``peer_weight``: the most the above count in one app's per-strategy catch rate;
    ``forgetting`` < 1 discounts an app's older runs of a strategy at each new one.
    """

    prior_runs: float = 4.0
    prior_p: float = 20.0
    app_runs: float = 3.0
    app_p: float = 3.0
    peer_weight: float = 6.0
    forgetting: float = 0.99
    temperature: float = 0.25
    peer: dict[tuple[str, str], Stats] = field(default_factory=dict)
    app: dict[tuple[str, str, str], Stats] = field(default_factory=dict)
    app_wide: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def _peer(self, ctx: Context, strategy: str) -> tuple[float, float, float]:
        """(Beta alpha, Beta beta) of the peer catch rate, and the peer incident ratio."""
        d0 = detection_prior(strategy, ctx.app_type)
        st = self.peer.get((ctx.app_type, strategy), Stats())
        ratio = (self.prior_p + st.caught + st.missed) / (self.prior_p + st.p_sum)
        return self.prior_runs * d0 + st.caught, self.prior_runs * (1 - d0) + st.missed, ratio

    def app_factors(self, ctx: Context) -> tuple[float, float]:
        """(catch multiplier, incident multiplier) of this app against its peers."""
        caught, exp_caught, incidents, exp_incidents = self.app_wide.get(
            ctx.app_key, [0.0, 0.0, 0.0, 0.0]
        )
        return (
            (self.app_runs + caught) / (self.app_runs + exp_caught),
            (self.app_p + incidents) / (self.app_p + exp_incidents),
        )

    def _centre(self, ctx: Context, peer_catch: float) -> float:
        return min(max(peer_catch * self.app_factors(ctx)[0], 0.02), 0.98)

    def belief(self, ctx: Context, strategy: str) -> Belief:
        """Posterior mean parameters of ``strategy`` for this app."""
        a, b, peer_ratio = self._peer(ctx, strategy)
        centre = self._centre(ctx, a / (a + b))
        own = self.app.get((*ctx.app_key, strategy), Stats())
        ratio = peer_ratio * self.app_factors(ctx)[1]
        return Belief(
            caught=self.peer_weight * centre + own.caught,
            missed=self.peer_weight * (1 - centre) + own.missed,
            ratio=ratio,
        )

    def probs(self, ctx: Context, catch: float, ratio: float) -> np.ndarray:
        """(succeeded, rolled_back, failed) probabilities for a catch rate and ratio."""
        incident = min(0.99, ratio * min(max(ctx.p_failure, 0.005), 1.0))
        return np.array([1.0 - incident, incident * catch, incident * (1.0 - catch)])

    def mean(self, ctx: Context, strategy: str) -> np.ndarray:
        b = self.belief(ctx, strategy)
        return self.probs(ctx, b.catch_rate, b.ratio)

    def sample(self, ctx: Context, strategy: str, rng: np.random.Generator) -> np.ndarray:
        """One Thompson draw of (succeeded, rolled_back, failed) probabilities.

        The peer catch rate is drawn first and (scaled by the app factor) becomes
        the centre of the app's own prior, so a strategy that peers have barely
        tried stays uncertain for every app.
        """
        k = 1.0 / max(self.temperature, 1e-6) ** 2
        a, b, peer_ratio = self._peer(ctx, strategy)
        centre = self._centre(ctx, float(rng.beta(k * a, k * b)))
        own = self.app.get((*ctx.app_key, strategy), Stats())
        catch = float(
            rng.beta(
                k * (self.peer_weight * centre + own.caught),
                k * (self.peer_weight * (1 - centre) + own.missed),
            )
        )
        return self.probs(ctx, catch, peer_ratio * self.app_factors(ctx)[1])

    def counts(self, ctx: Context, strategy: str) -> tuple[Stats, Stats]:
        """(peer statistics, this app's statistics) for explanations."""
        return (
            self.peer.get((ctx.app_type, strategy), Stats()),
            self.app.get((*ctx.app_key, strategy), Stats()),
        )

    def update(self, ctx: Context, strategy: str, outcome: str) -> None:
        """Learn one labelled outcome (``aborted`` carries no label and is not passed here)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome: expected one of {OUTCOMES}, got {outcome!r}")
        p = min(max(ctx.p_failure, 0.005), 1.0)
        a, b, peer_ratio = self._peer(ctx, strategy)
        wide = self.app_wide.setdefault(ctx.app_key, [0.0, 0.0, 0.0, 0.0])
        incident = outcome != "succeeded"
        wide[0] += outcome == "rolled_back"
        wide[1] += a / (a + b) if incident else 0.0
        wide[2] += incident
        wide[3] += p * peer_ratio
        self.peer.setdefault((ctx.app_type, strategy), Stats()).add(p, outcome)
        self.app.setdefault((*ctx.app_key, strategy), Stats()).add(p, outcome, self.forgetting)
