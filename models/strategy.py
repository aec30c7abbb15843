"""Strategy recommendation: hard constraints first, then a choice learned from outcomes.

For each requested deployment :class:`StrategyRecommender`

1. removes every strategy a constraint forbids (``models.strategy_constraints``),
   each with a reason;
2. scores the rest by expected cost: the outcome cost (a failure or a rollback
   hurts in proportion to the strategy's blast radius and to how little the app
   tolerates failure) under one Thompson draw from the learned outcome
   posteriors (``models.strategy_bandit``), plus the plan cost (time to full
   rollout, valued higher for apps that deploy often, and doubled capacity for
   blue/green and shadow; downtime for recreate of user-facing apps);
3. picks the cheapest and sets its parameters (``models.strategy_params``).

The Thompson draw is seeded from the deployment id, never a global RNG, so a
replay of the same stream makes the same choices. Outcomes teach the posteriors
through :meth:`StrategyRecommender.observe`: the strategy actually started is
what gets credited (falling back to the recommended one), each label once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.strategy_bandit import Context, OutcomePosteriors
from models.strategy_constraints import (
    ConstraintConfig,
    Rule,
    excluded_strategies,
    is_stateful,
)
from models.strategy_params import parameters_for, plan_duration_s, risk_band, risk_level
from schemas import (
    STRATEGIES,
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    DeploymentStep,
    Prediction,
    StrategyDecision,
    derived_id,
)

DeployLifecycle = DeploymentRequested | DeploymentStarted | DeploymentStep | DeploymentFinished
POLICY_VERSION = "strategy-1"
FALLBACK = "rolling"


@dataclass(frozen=True)
class CostModel:
    """What outcomes and plans cost, in units of one full failure of a tolerant web app.

    ``failed``/``rolled_back`` are fractions of the app's severity by strategy:
    its blast radius (blue/green switches back at once, recreate has to come back
    up; a canary's rollback touched one small step, a shadow's touched no user).
    """

    severity: dict[str, float] = field(default_factory=lambda: {
        "web": 1.0, "api": 1.0, "monolith": 1.2, "stateful": 1.5, "worker": 0.6, "batch": 0.4})
    failed: dict[str, float] = field(default_factory=lambda: {
        "rolling": 1.0, "blue_green": 0.6, "canary": 1.0, "shadow": 1.0, "recreate": 1.3})
    rolled_back: dict[str, float] = field(default_factory=lambda: {
        "rolling": 0.4, "blue_green": 0.2, "canary": 0.08, "shadow": 0.02, "recreate": 0.8})
    minute_value: float = 0.003
    double_capacity: frozenset[str] = frozenset({"blue_green", "shadow"})
    downtime: dict[str, float] = field(default_factory=lambda: {
        "web": 0.3, "api": 0.3, "monolith": 0.3})

    def app_severity(self, app_type: str, risk_tolerance: float) -> float:
        """Cost of a full failure: 1x for a fully tolerant app up to 10x for zero tolerance."""
        return self.severity.get(app_type, 1.0) * (1.0 + 9.0 * (1.0 - risk_tolerance))

    def plan_cost(self, strategy: str, req: DeploymentRequested, duration_s: int) -> float:
        """Time to full rollout, worth more the more often the app deploys."""
        per_minute = self.minute_value * (1.0 + req.deploy_frequency_per_day / 4.0)
        cost = duration_s / 60.0 * per_minute
        if strategy in self.double_capacity:
            cost *= 1.5
        if strategy == "recreate":
            cost += self.downtime.get(req.app_type, 0.05) * self.severity.get(req.app_type, 1.0)
        return cost


@dataclass
class _Pending:
    ctx: Context
    strategy: str


def seed_of(*parts: str) -> int:
    """A 64-bit seed from the request's identity (stable across processes and runs).

    >>> seed_of("dep-1") == seed_of("dep-1") != seed_of("dep-2")
    True
    """
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


class StrategyRecommender:
    """Constraints as a safety filter, then Thompson sampling over expected cost."""

    def __init__(
        self,
        extra_rules: Sequence[Rule] | None = None,
        *,
        config: ConstraintConfig | None = None,
        costs: CostModel | None = None,
        posteriors: OutcomePosteriors | None = None,
        explore: bool = True,
        max_pending: int = 100_000,
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(extra_rules or ())
        self.config = config or ConstraintConfig()
        self.costs = costs or CostModel()
        self.posteriors = posteriors or OutcomePosteriors()
        self.explore = explore
        self.max_pending = max_pending
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self.labels_learned = 0

    # --- deciding -----------------------------------------------------------
    def recommend(self, req: DeploymentRequested, prediction: Prediction) -> StrategyDecision:
        """Decide for a requested deployment and remember it until its outcome."""
        decision = self.what_if(req, prediction.p_failure)
        ctx = self._context(req, prediction.p_failure)
        self._pending[req.deployment_id] = _Pending(ctx, decision.strategy)
        self._pending.move_to_end(req.deployment_id)
        while len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
        return decision

    def what_if(self, req: DeploymentRequested, p_failure: float) -> StrategyDecision:
        """The decision for ``req`` at ``p_failure``, changing no state."""
        p = min(max(float(p_failure), 0.0), 1.0)
        excluded = excluded_strategies(req, self.config, self.rules)
        feasible = [s for s in STRATEGIES if s not in excluded]
        stateful = is_stateful(req, self.config)
        risk = risk_level(p, req.risk_tolerance)
        explanation = [
            f"risk {risk_band(risk)} ({risk:.2f}): p_failure {p:.2f}, "
            f"risk_tolerance {req.risk_tolerance:.2f}",
            f"app_type {req.app_type}{' (stateful: one writer at a time)' if stateful else ''}, "
            f"deploys {req.deploy_frequency_per_day:g}/day",
        ]
        explanation += [f"excluded {s}: {why}" for s, why in excluded.items()]
        if not feasible:
            params = parameters_for(FALLBACK, req, p, stateful=True)
            params.auto_promote = False
            explanation.insert(0, "no strategy satisfies every constraint: held for manual "
                               f"approval, {FALLBACK} one pod at a time if approved")
            return self._decision(req, FALLBACK, params, p, explanation, excluded)
        ctx = self._context(req, p)
        rng = np.random.default_rng(seed_of(req.deployment_id, req.app))
        scored = []
        for s in feasible:
            params = parameters_for(s, req, p, stateful=stateful)
            cost, line = self._expected_cost(s, req, ctx, params, rng)
            scored.append((cost, STRATEGIES.index(s), s, params, line))
        scored.sort(key=lambda x: (x[0], x[1]))
        best_cost, _, best, params, _ = scored[0]
        explanation.append("expected cost (outcome + plan), lowest first: "
                           + "; ".join(line for *_, line in scored))
        explanation.append(self._history_line(ctx, best))
        if len(scored) > 1:
            explanation.append(f"chose {best}: {scored[1][0] - best_cost:.3f} cheaper than "
                               f"{scored[1][2]} (Thompson draw seeded by the deployment id)")
        else:
            explanation.append(f"chose {best}: the only strategy every constraint allows")
        if stateful and best == "rolling":
            explanation.append("stateful: maxSurge 0 so the old pod stops before the new starts")
        if stateful and best == "blue_green":
            explanation.append(
                "stateful: green takes no writes until an operator-confirmed cutover")
        return self._decision(req, best, params, p, explanation, excluded)

    def recommend_for(self, req: DeploymentRequested, p_failure: float) -> StrategyDecision:
        """Alias of :meth:`what_if` for the API."""
        return self.what_if(req, p_failure)

    def _context(self, req: DeploymentRequested, p: float) -> Context:
        return Context(req.app, req.environment, req.app_type, p)

    def _expected_cost(self, s: str, req: DeploymentRequested, ctx: Context, params: object,
                       rng: np.random.Generator) -> tuple[float, str]:
        probs = self.posteriors.sample(ctx, s, rng) if self.explore else \
            self.posteriors.mean(ctx, s)
        _, p_rb, p_fail = (float(x) for x in probs)
        sev = self.costs.app_severity(req.app_type, req.risk_tolerance)
        outcome = sev * (p_fail * self.costs.failed[s] + p_rb * self.costs.rolled_back[s])
        duration = plan_duration_s(s, params, req.resources.replicas)  # type: ignore[arg-type]
        plan = self.costs.plan_cost(s, req, duration)
        line = (f"{s} {outcome + plan:.3f} (P(fail) {p_fail:.2f}, P(rollback) {p_rb:.2f}, "
                f"plan {duration // 60} min)")
        return outcome + plan, line

    def _history_line(self, ctx: Context, s: str) -> str:
        peer, own = self.posteriors.counts(ctx, s)
        b = self.posteriors.belief(ctx, s)
        return (f"history of {s}: this app {own.runs:.0f} runs ({own.caught:.0f} rolled back, "
                f"{own.missed:.0f} failed), {ctx.app_type} apps {peer.runs:.0f} runs "
                f"({peer.caught:.0f} rolled back, {peer.missed:.0f} failed); believed catch "
                f"rate {b.catch_rate:.2f}, incidents {b.ratio:.2f}x predicted")

    @staticmethod
    def _decision(req: DeploymentRequested, strategy: str, params: object, p: float,
                  explanation: list[str], excluded: dict[str, str]) -> StrategyDecision:
        return StrategyDecision(
            id=derived_id(req.id, "decision"),
            occurred_at=req.occurred_at,
            deployment_id=req.deployment_id,
            app=req.app,
            environment=req.environment,
            request_id=req.id,
            strategy=strategy,  # type: ignore[arg-type]
            parameters=params,  # type: ignore[arg-type]
            p_failure=p,
            explanation=explanation,
            excluded=excluded,
            policy_version=POLICY_VERSION,
        )

    # --- learning -----------------------------------------------------------
    def observe(self, event: DeployLifecycle) -> None:
        """Credit outcomes to the strategy actually used; learn each label once."""
        if isinstance(event, DeploymentStarted):
            pending = self._pending.get(event.deployment_id)
            if pending is not None:
                pending.strategy = event.strategy
        elif isinstance(event, DeploymentFinished):
            pending = self._pending.pop(event.deployment_id, None)
            if pending is None or event.outcome == "aborted":
                return
            self.posteriors.update(pending.ctx, pending.strategy, event.outcome)
            self.labels_learned += 1

    @property
    def pending(self) -> int:
        """Deployments recommended and not yet finished."""
        return len(self._pending)
