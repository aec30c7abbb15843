"""Strategy bench: cumulative regret of strategy choice in a seeded deployment world.

Run: ``.venv/bin/python tests/bench/bench_strategy.py [--n 5000] [--seeds 1 2 3]``

The world is written from how rollouts go wrong, not from the recommender's
model (its costs, detection rates and severity curve all differ from the
recommender's assumptions):

* each app has hidden traits: how often it ships a bad version, how visible a
  bad version is in its KPIs (observability), and type-specific hazards
  (monoliths mis-behave with two versions side by side; stateful cutovers can
  go wrong; cold starts after recreate overload user-facing apps);
* a bad version is caught (``rolled_back``, small exposure) with a probability
  that depends on the strategy, the app type and the app's observability, and
  otherwise reaches everyone (``failed``, full cost, recovery time by strategy);
* every plan costs time to full rollout (valued by how often the app deploys),
  doubled capacity for blue/green and shadow, downtime for recreate;
* the predicted failure probability seen by the strategist is a noisy version
  of the true one, as from a real success model.

Regret of a choice = its true expected cost minus that of the best feasible
strategy for that request (feasible = allowed by the same hard constraints, so
all three policies face the same safety filter). Policies:

* ours: ``StrategyRecommender`` fed the realised outcomes (3 % aborted, no label);
* rules: the constraints plus a fixed textbook preference, no learning;
* best fixed: one strategy used whenever feasible (rules otherwise), the best
  such strategy in hindsight.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.strategy import StrategyRecommender  # noqa: E402
from models.strategy_constraints import ConstraintConfig, excluded_strategies  # noqa: E402
from schemas import (  # noqa: E402
    STRATEGIES,
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    Prediction,
)

APP_TYPES = ["web", "api", "worker", "batch", "stateful", "monolith"]
TYPE_WEIGHTS = [0.3, 0.3, 0.14, 0.08, 0.1, 0.08]
USER_FACING = {"web", "api", "monolith"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class App:
    name: str
    app_type: str
    replicas: int
    spare: float
    splitting: bool
    mirroring: bool
    compliance: tuple[str, ...]
    risk_tolerance: float
    frequency: float
    bad_rate: float
    observability: float


def make_apps(rng: np.random.Generator, n: int) -> list[App]:
    apps = []
    for i in range(n):
        kind = str(rng.choice(APP_TYPES, p=TYPE_WEIGHTS))
        small = kind in {"batch", "stateful"}
        splitting = bool(rng.random() < 0.5)
        apps.append(App(
            name=f"app{i:03d}", app_type=kind,
            replicas=int(rng.integers(1, 4) if small else rng.integers(1, 21)),
            spare=float(rng.uniform(0.2, 2.5)),
            splitting=splitting,
            mirroring=bool(rng.random() < (0.5 if splitting else 0.1)),
            compliance=(str(rng.choice(["pci", "sox", "hipaa"])),) if rng.random() < 0.2 else (),
            risk_tolerance=float(rng.beta(2, 2)),
            frequency=float(np.clip(rng.lognormal(math.log(2.0), 1.2), 0.1, 40)),
            bad_rate=float(rng.beta(2, 14)),
            observability=float(rng.beta(3, 2)),
        ))
    return apps


def detection(s: str, app: App) -> float:
    """True chance that ``s`` catches a bad version of ``app`` before full exposure."""
    o = app.observability
    traffic = app.app_type not in {"worker", "batch"}
    if s == "canary":
        return o * ((0.95 if app.splitting else 0.75) if traffic else 0.3)
    if s == "shadow":
        return o * 0.8 * 0.85 if traffic else 0.1
    if s == "blue_green":
        return 0.35 + 0.3 * o
    if s == "rolling":
        return 0.15 + 0.25 * o
    return 0.05


def induced(s: str, app: App) -> float:
    """Chance that the strategy itself breaks a good version (type-specific hazards)."""
    if s == "recreate" and app.app_type in USER_FACING and app.replicas > 5:
        return 0.03  # cold start of every pod at once overloads dependencies
    if s == "blue_green" and app.app_type == "stateful":
        return 0.04  # cutover with connection draining / leader hand-over goes wrong
    if s in {"rolling", "canary"} and app.app_type == "monolith":
        return 0.03  # two versions side by side disagree on sessions / schema
    return 0.0


def true_costs(s: str, app: App) -> tuple[float, float, float]:
    """(cost if succeeded, cost if rolled back, cost if failed) in the world's units."""
    severity = {"web": 1.0, "api": 1.2, "monolith": 1.4, "stateful": 2.0, "worker": 0.5,
                "batch": 0.3}[app.app_type] * (0.5 + 10.0 * (1.0 - app.risk_tolerance) ** 1.5)
    minutes = {"rolling": 2 + 0.3 * app.replicas, "canary": 35.0, "blue_green": 12.0,
               "shadow": 45.0, "recreate": 2.0}[s]
    plan = minutes * 0.002 * (1.0 + app.frequency / 3.0)
    if s in {"blue_green", "shadow"}:
        plan += 0.05 * app.replicas / 10.0
    if s == "recreate":
        plan += (0.25 if app.app_type in USER_FACING else 0.02) * severity / 5.0
    exposure = {"rolling": 0.35, "canary": 0.1, "blue_green": 0.25, "shadow": 0.01,
                "recreate": 0.9}[s]
    recovery = {"rolling": 1.0, "canary": 1.0, "blue_green": 0.5, "shadow": 1.0,
                "recreate": 1.5}[s]
    return plan, plan + exposure * severity, plan + recovery * severity


def outcome_probs(s: str, app: App, q: float) -> tuple[float, float, float]:
    """True (succeeded, rolled_back, failed) probabilities of ``s`` for a version bad w.p. q."""
    d = detection(s, app)
    hazard = induced(s, app) * (1.0 - q)
    rb, fail = q * d + hazard * 0.5, q * (1.0 - d) + hazard * 0.5
    return 1.0 - rb - fail, rb, fail


def expected_cost(s: str, app: App, q: float) -> float:
    return float(np.dot(outcome_probs(s, app, q), true_costs(s, app)))


def rules_choice(req: DeploymentRequested, p: float, feasible: list[str]) -> str:
    """Textbook preference: careful strategies when risky, fast ones otherwise."""
    stateful = req.app_type == "stateful"
    risky = p >= 0.25 or req.risk_tolerance < 0.3
    if stateful:
        order = ["blue_green", "rolling", "recreate"] if risky else ["rolling", "recreate"]
    elif risky:
        order = ["canary", "blue_green", "shadow", "rolling"]
    else:
        order = ["rolling", "canary", "blue_green", "recreate"]
    for s in order + list(STRATEGIES):
        if s in feasible:
            return s
    return "rolling"


def run(seed: int, n: int, n_apps: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    apps = make_apps(rng, n_apps)
    freq = np.array([a.frequency for a in apps])
    ours, prior_only = StrategyRecommender(), StrategyRecommender(explore=False)
    cfg = ConstraintConfig()
    regret = {"ours": 0.0, "prior_only": 0.0, "rules": 0.0}
    fixed = dict.fromkeys(STRATEGIES, 0.0)
    for t in range(n):
        app = apps[int(rng.choice(n_apps, p=freq / freq.sum()))]
        change = float(rng.normal())
        q = 1 / (1 + math.exp(-(math.log(app.bad_rate / (1 - app.bad_rate)) + 0.8 * change)))
        p_hat = 1 / (1 + math.exp(-(math.log(q / (1 - q)) + float(rng.normal(0, 0.7)))))
        req = DeploymentRequested(
            id=f"r{seed}-{t}", occurred_at=T0 + timedelta(minutes=t), deployment_id=f"d{seed}-{t}",
            app=app.name, version=str(t), app_type=app.app_type,  # type: ignore[arg-type]
            risk_tolerance=app.risk_tolerance, compliance=list(app.compliance),
            deploy_frequency_per_day=app.frequency,
            resources={"spare_capacity": app.spare, "replicas": app.replicas},  # type: ignore[arg-type]
            capabilities={"traffic_mirroring": app.mirroring,  # type: ignore[arg-type]
                          "traffic_splitting": app.splitting})
        feasible = [s for s in STRATEGIES if s not in excluded_strategies(req, cfg)]
        costs = {s: expected_cost(s, app, q) for s in feasible}
        best = min(costs.values())
        pred = Prediction(occurred_at=req.occurred_at, deployment_id=req.deployment_id,
                          app=app.name, request_id=req.id, p_failure=p_hat, alarm=0)
        chosen = ours.recommend(req, pred).strategy
        rule = rules_choice(req, p_hat, feasible)
        regret["ours"] += costs[chosen] - best
        regret["prior_only"] += costs[prior_only.what_if(req, p_hat).strategy] - best
        regret["rules"] += costs[rule] - best
        for s in STRATEGIES:
            fixed[s] += costs[s if s in costs else rule] - best
        probs = outcome_probs(chosen, app, q)
        outcome = str(rng.choice(["succeeded", "rolled_back", "failed"], p=probs))
        if rng.random() < 0.03:
            outcome = "aborted"
        ours.observe(DeploymentStarted(occurred_at=req.occurred_at, app=app.name,
                                       deployment_id=req.deployment_id, strategy=chosen))
        ours.observe(DeploymentFinished(occurred_at=req.occurred_at, app=app.name,
                                        deployment_id=req.deployment_id,
                                        outcome=outcome))  # type: ignore[arg-type]
    best_fixed = min(fixed, key=lambda s: fixed[s])
    return {**regret, "best_fixed": fixed[best_fixed], "best_fixed_is": STRATEGIES.index(best_fixed)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="deployments per seed")
    ap.add_argument("--apps", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args()
    totals: dict[str, list[float]] = {}
    started = time.perf_counter()
    for seed in args.seeds:
        r = run(seed, args.n, args.apps)
        for k, v in r.items():
            totals.setdefault(k, []).append(v)
        print(f"seed {seed}: n={args.n} regret ours={r['ours']:.1f} rules={r['rules']:.1f} "
              f"best_fixed={r['best_fixed']:.1f} ({STRATEGIES[int(r['best_fixed_is'])]}) "
              f"prior_only={r['prior_only']:.1f}")
    elapsed = time.perf_counter() - started
    mean = {k: float(np.mean(v)) for k, v in totals.items()}
    decisions = args.n * len(args.seeds)
    print(f"mean over {len(args.seeds)} seeds; {decisions / elapsed:.0f} decisions/s "
          "(ours + prior-only + bookkeeping)")
    print(f"RESULT strategy n={args.n} seeds={len(args.seeds)} regret_ours={mean['ours']:.1f} "
          f"regret_rules={mean['rules']:.1f} regret_best_fixed={mean['best_fixed']:.1f} "
          f"regret_prior_only={mean['prior_only']:.1f}")


if __name__ == "__main__":
    main()
