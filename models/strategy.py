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
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.strategy_bandit import Context, OutcomePosteriors
from models.strategy_constraints import (
    ConstraintConfig,
    Rule,
    excluded_strategies,
    is_stateful,
    parse_constraint_config,
    parse_rules,
)
from models.strategy_costs import CostModel
from models.strategy_params import parameters_for, plan_duration_s, risk_band, risk_level
from schemas import (
    STRATEGIES,
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    DeploymentStep,
    Prediction,
    StrategyDecision,
    StrategyParameters,
    derived_id,
)

DeployLifecycle = DeploymentRequested | DeploymentStarted | DeploymentStep | DeploymentFinished
POLICY_VERSION = "strategy-1"
FALLBACK = "rolling"


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
        extra_rules: Sequence[Rule | Mapping[str, Any]] | None = None,
        *,
        config: ConstraintConfig | Mapping[str, Any] | None = None,
        costs: CostModel | None = None,
        posteriors: OutcomePosteriors | None = None,
        explore: bool = True,
        max_pending: int = 100_000,
    ) -> None:
        given = list(extra_rules or ())
        docs = [r for r in given if not isinstance(r, Rule)]  # raw policy-file rules
        self.rules: tuple[Rule, ...] = (
            *(r for r in given if isinstance(r, Rule)),
            *parse_rules(docs),
        )
        self.config = (
            config if isinstance(config, ConstraintConfig) else parse_constraint_config(config)
        )
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
        if not math.isfinite(p_failure):
            raise ValueError(f"p_failure: expected a probability, got {p_failure!r}")
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
            explanation.insert(
                0,
                "no strategy satisfies every constraint: held for manual "
                f"approval, {FALLBACK} one pod at a time if approved",
            )
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
        explanation += [line for *_, line in scored]
        explanation.append(self._history_line(ctx, best))
        if len(scored) > 1:
            how = (
                "one posterior draw, seeded by the deployment id"
                if self.explore
                else "posterior means"
            )
            explanation.append(
                f"chose {best}: {scored[1][0] - best_cost:.3f} cheaper than {scored[1][2]} ({how})"
            )
        else:
            explanation.append(f"chose {best}: the only strategy every constraint allows")
        if stateful and best == "rolling":
            explanation.append(
                "stateful: maxSurge 0, maxUnavailable 1 - each pod stops before its replacement "
                "starts, so every volume/shard has one writer; old and new versions share the "
                "data store during the roll, so schema changes must be backward compatible"
            )
        if stateful and best == "blue_green":
            explanation.append(
                "stateful: green takes no writes until an operator-confirmed cutover"
            )
        return self._decision(req, best, params, p, explanation, excluded)

    def recommend_for(self, req: DeploymentRequested, p_failure: float) -> StrategyDecision:
        """Alias of :meth:`what_if` for the API."""
        return self.what_if(req, p_failure)

    def _context(self, req: DeploymentRequested, p: float) -> Context:
        return Context(req.app, req.environment, req.app_type, p)

    def _expected_cost(
        self,
        s: str,
        req: DeploymentRequested,
        ctx: Context,
        params: StrategyParameters,
        rng: np.random.Generator,
    ) -> tuple[float, str]:
        """Outcome cost under one posterior draw (or the mean) plus the plan cost."""
        probs = (
            self.posteriors.sample(ctx, s, rng) if self.explore else self.posteriors.mean(ctx, s)
        )
        _, p_rb, p_fail = (float(x) for x in probs)
        sev = self.costs.app_severity(req.app_type, req.risk_tolerance)
        outcome = sev * (p_fail * self.costs.failed[s] + p_rb * self.costs.rolled_back[s])
        duration = plan_duration_s(s, params, req.resources.replicas)
        plan = self.costs.plan_cost(s, req, duration)
        line = (
            f"cost of {s}: {outcome + plan:.3f} = outcomes {outcome:.3f} (P(fail) "
            f"{p_fail:.3f}, P(rollback) {p_rb:.3f}, severity {sev:.1f}) + plan {plan:.3f} "
            f"({duration / 60:.0f} min to full rollout)"
        )
        return outcome + plan, line

    def _history_line(self, ctx: Context, s: str) -> str:
        peer, own = self.posteriors.counts(ctx, s)
        b = self.posteriors.belief(ctx, s)
        visible, riskier = self.posteriors.app_factors(ctx)
        return (
            f"learned for {s}: this app {own.runs:.0f} runs ({own.caught:.0f} rolled back, "
            f"{own.missed:.0f} failed), {ctx.app_type} apps {peer.runs:.0f} runs "
            f"({peer.caught:.0f} rolled back, {peer.missed:.0f} failed); catch rate "
            f"{b.catch_rate:.2f}, incidents {b.ratio:.2f}x predicted; this app's bad "
            f"versions caught {visible:.2f}x and occurring {riskier:.2f}x as often as "
            "its peers'"
        )

    @staticmethod
    def _decision(
        req: DeploymentRequested,
        strategy: str,
        params: StrategyParameters,
        p: float,
        explanation: list[str],
        excluded: dict[str, str],
    ) -> StrategyDecision:
        return StrategyDecision(
            id=derived_id(req.id, "decision"),
            occurred_at=req.occurred_at,
            deployment_id=req.deployment_id,
            app=req.app,
            environment=req.environment,
            request_id=req.id,
            strategy=strategy,  # type: ignore[arg-type]
            parameters=params,
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
