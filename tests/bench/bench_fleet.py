"""Long healthy watches at realistic traffic splits: false rollbacks, and catch beside them.

Usage: ``make bench-fleet`` (env: DEPLOYMENTS (60), ROLLING (20), HOURS (2), WORKERS (2),
OUTAGES (6)).

bench-canary compares equal tracks for ten minutes. Production canaries differ: a
canary often takes a quarter or a tenth of the baseline's traffic, and it is watched
for hours (bake time, slow promotions), i.e. judged at every 10 s tick hundreds of
times. This bench drives the pure guard (shipped default policy: error ratio, p99
latency from histograms, CPU, memory) with ``tests.kpi.factory.Fleet`` scrapes — per-pod
request counters by code, a 7-bucket latency histogram, CPU seconds, memory, every 5 s,
two scrapes per batch — for ``DEPLOYMENTS`` canaries over a grid of baseline request
rates (20, 50, 200, 500 rps) and canary traffic shares (1, 1/4, 1/10):

* **controls**: canary = baseline process, watched for ``HOURS``; any rollback is
  false. Rounds of the grid cycle through five healthy services: steady (0.5 % 5xx,
  80 ms median latency); 3 % 5xx (near the policy's absolute ``max: 0.05``); slow
  (0.4 s median: true p99 1.3 s, which PromQL's interpolation between the bounds 1
  and 2.5 reads as about 2.1 s, past the policy's ``max: 2.0``); diurnal (traffic
  ±80 % over an hour, latency rising with load, on both tracks); one canary pod
  beside six baseline pods;
* **regressions**: the same grid, watched 30 healthy minutes and then 20 minutes of
  5xx ×5 (2.5 %), median latency ×2, latency bursts (median ×5 in a random quarter
  of the 10 s batches: variance growth at a near-equal median), and two subtle ones
  just past the default policy's ratios: 5xx ×3 and latency ×1.6; caught = rolled
  back after the onset (a rollback before the onset is a false rollback, not a catch).

* **rolling deploys** (``ROLLING`` controls and as many regressions): no baseline
  track; the guard first learns an hour of the app's healthy history (4 pods at 5, 20,
  50 or 200 rps), then watches the new version on every pod, judged against the
  learned level: the steady, 3 % 5xx and slow services as controls, the five
  regressions after 30 minutes.

false_rollback = deployments rolled back while healthy / all deployments; catch =
regressions caught / regressions; median_ttr_s = event time from onset to command.

* **outages** (``OUTAGES`` canaries per policy, reported apart, not in the RESULT line):
  after 30 healthy minutes, 3 minutes of 30 % 5xx and 2 s median latency, either on
  both tracks (a shared dependency outage) or on the canary alone, watched under
  ``shared_breach: rollback`` (the default) and ``hold``.

Last line: ``RESULT fleet false_rollback=<x> catch=<x> median_ttr_s=<x> controls=<n>
watched_hours=<x>``; per traffic share lines before it.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.kpi.factory import (  # noqa: E402
    T0_MS,
    Fleet,
    TrackLoad,
    canary_guard,
    of_type,
    rolling_guard,
)

RATES = (20.0, 50.0, 200.0, 500.0)
ROLLING_RATES = (5.0, 20.0, 50.0, 200.0)
SHARES = (1.0, 0.25, 0.1)
SCRAPE_MS = 5000
ONSET_S, AFTER_S = 1800, 1200
CONTROLS = (  # (profile, 5xx share, median latency s) of healthy services
    ("steady", 0.005, 0.08),
    ("3% 5xx", 0.03, 0.08),
    ("slow", 0.005, 0.4),
    ("diurnal", 0.005, 0.08),
    ("1 canary pod", 0.005, 0.08),
)
KINDS = ("errors", "latency", "bursts", "errors_x3", "latency_x1.6")
OUTAGE_S = 180  # outages: 30 % 5xx and 2 s median latency for 3 minutes


@dataclass(frozen=True)
class Case:
    index: int
    rps: float
    share: float
    regression: str  # "" (control) | one of KINDS
    seconds: int
    profile: str = "steady"  # a control's service (see CONTROLS); regressions: steady
    error_rate: float = 0.005  # both tracks' healthy 5xx share
    latency_s: float = 0.08  # both tracks' healthy median latency
    shared_breach: str = "rollback"  # the policy's shared_breach (outage cases)

    @property
    def rolling(self) -> bool:
        """A rolling deploy (profile ``rolling …``), not a canary."""
        return self.profile.startswith("rolling")


@dataclass(frozen=True)
class Outcome:
    case: Case
    rolled_at_s: float | None  # event time since the watch began
    reason: str


def run(case: Case) -> Outcome:
    """One deployment, one guard, scrape by scrape; stops at the first rollback.

    A rolling deploy (profile ``rolling …``) has one track, the new version on every pod,
    judged against the app's learned history; a canary has a baseline and a canary.
    """
    dep, app = f"fleet-{case.index}", f"fleet-app-{case.index}"
    rolling = case.rolling
    pods = (6, 1) if case.profile == "1 canary pod" else (4, 4) if rolling else (2, 2)
    base = TrackLoad(case.rps, case.error_rate, case.latency_s, pods=pods[0])
    canary = TrackLoad(case.rps * case.share, case.error_rate, case.latency_s, pods=pods[1])
    guard = (
        rolling_guard(dep, app, base, seed=5000 + case.index)
        if rolling
        else canary_guard(dep, app, {"shared_breach": case.shared_breach})
    )
    outage = TrackLoad(rps=canary.rps, error_rate=0.3, latency_s=2.0, pods=canary.pods)
    bad = {
        "": canary,
        "errors": TrackLoad(rps=canary.rps, error_rate=0.025),
        "latency": TrackLoad(rps=canary.rps, error_rate=0.005, latency_s=0.16),
        "bursts": TrackLoad(rps=canary.rps, error_rate=0.005, latency_s=0.4),
        "errors_x3": TrackLoad(rps=canary.rps, error_rate=0.015),
        "latency_x1.6": TrackLoad(rps=canary.rps, error_rate=0.005, latency_s=0.128),
        "outage": outage,
        "shared outage": outage,
    }[case.regression]
    bursts = np.random.default_rng(case.index).random(case.seconds) < 0.25
    fleet = Fleet(app=app, deployment_id=dep, seed=1000 + case.index)
    start = T0_MS + SCRAPE_MS
    for k in range(0, case.seconds * 1000 // SCRAPE_MS, 2):
        t = start + k * SCRAPE_MS
        late = case.regression and (t - start) >= ONSET_S * 1000
        if case.regression == "bursts":  # slow in a quarter of the batches only
            late = late and bool(bursts[k])
        if case.regression.endswith("outage"):
            late = late and (t - start) < (ONSET_S + OUTAGE_S) * 1000
        shared = late and case.regression == "shared outage"
        loads = {"baseline": replace(outage, rps=base.rps, pods=base.pods) if shared else base,
                 "canary": bad if late else canary}
        if rolling:
            loads = {"stable": replace(loads["canary"], pods=base.pods)}
        if case.profile == "diurnal":  # traffic ±80 % over an hour, latency rising with it
            m = 1 + 0.8 * math.sin(2 * math.pi * (t - start) / 3_600_000)
            loads = {k: replace(v, rps=v.rps * m, latency_s=v.latency_s * (0.8 + 0.4 * m))
                     for k, v in loads.items()}
        rolled = of_type(guard.on_metrics(fleet.scrape(t, loads, 2)), "RollbackCommand")
        if rolled:
            at_s = (rolled[0].occurred_at.timestamp() * 1000 - start) / 1000
            return Outcome(case, at_s, rolled[0].reason)
    return Outcome(case, None, "")


def cases(deployments: int, hours: float, rolling: int = 0) -> list[Case]:
    grid = [(r, s) for s in SHARES for r in RATES]
    out = [
        Case(i, *grid[i % len(grid)], "", int(hours * 3600),
             *CONTROLS[i // len(grid) % len(CONTROLS)])
        for i in range(deployments)
    ]
    for j in range(deployments):
        kind = KINDS[j % len(KINDS)]
        rps, share = grid[(j // len(KINDS)) % len(grid)]
        out.append(Case(deployments + j, rps, share, kind, ONSET_S + AFTER_S))
    n = len(out)
    for j in range(rolling):  # rolling deploys: quiet to busy, the three plain services
        rps = ROLLING_RATES[j % len(ROLLING_RATES)]
        profile, err, lat = CONTROLS[j // len(ROLLING_RATES) % 3]
        out.append(Case(n + j, rps, 1.0, "", int(hours * 3600), f"rolling {profile}", err, lat))
    for j in range(rolling):
        rps = ROLLING_RATES[j % len(ROLLING_RATES)]
        kind = KINDS[j // len(ROLLING_RATES) % len(KINDS)]
        out.append(Case(n + rolling + j, rps, 1.0, kind, ONSET_S + AFTER_S, "rolling steady"))
    return out


def outage_cases(n: int, first: int) -> list[Case]:
    """``n`` canaries per (outage kind, policy) over the rate × share grid."""
    grid = [(r, s) for s in SHARES for r in RATES]
    kinds = [(k, p) for k in ("shared outage", "outage") for p in ("rollback", "hold")]
    return [
        Case(first + i * n + j, *grid[j % len(grid)], kind, ONSET_S + AFTER_S,
             shared_breach=policy)
        for i, (kind, policy) in enumerate(kinds)
        for j in range(n)
    ]


def report_outages(results: list[Outcome]) -> None:
    for kind in ("shared outage", "outage"):
        for policy in ("rollback", "hold"):
            mine = [r for r in results
                    if r.case.regression == kind and r.case.shared_breach == policy]
            rolled = [r for r in mine if r.rolled_at_s is not None and r.rolled_at_s >= ONSET_S]
            early = [r for r in mine if r.rolled_at_s is not None and r.rolled_at_s < ONSET_S]
            ttr = statistics.median([r.rolled_at_s - ONSET_S for r in rolled]) if rolled else 0
            where = "both tracks" if kind == "shared outage" else "canary only"
            print(f"{kind} ({where}), shared_breach: {policy}: rolled back "
                  f"{len(rolled)}/{len(mine)}"
                  + (f" (median {ttr:.0f} s after onset)" if rolled else "")
                  + (f", {len(early)} before the onset" if early else ""))


def main() -> int:
    deployments = int(os.environ.get("DEPLOYMENTS", 60))
    rolling = int(os.environ.get("ROLLING", 20))
    hours = float(os.environ.get("HOURS", 2))
    workers = int(os.environ.get("WORKERS", 2))
    outages = int(os.environ.get("OUTAGES", 6))
    todo = cases(deployments, hours, rolling)
    todo += outage_cases(outages, len(todo))
    print(f"{deployments} controls x {hours:g} h, {deployments} regressions, {workers} workers")
    t0 = time.time()
    results: list[Outcome] = []
    with ProcessPoolExecutor(workers) as pool:
        for n, res in enumerate(pool.map(run, todo), 1):
            results.append(res)
            if n % 16 == 0 or n == len(todo):
                print(f"  {n}/{len(todo)} deployments ({time.time() - t0:.0f} s)", flush=True)
    report_outages([r for r in results if r.case.regression.endswith("outage")])
    results = [r for r in results if not r.case.regression.endswith("outage")]
    false, caught, ttr = 0, 0, []
    controls = [r for r in results if not r.case.regression]
    regressions = [r for r in results if r.case.regression]
    for r in results:
        early = r.rolled_at_s is not None and (
            not r.case.regression or r.rolled_at_s < ONSET_S
        )
        if early:
            false += 1
            print(f"  FALSE ROLLBACK {r.case}: at {r.rolled_at_s:.0f} s: {r.reason}")
        elif r.case.regression and r.rolled_at_s is not None:
            caught += 1
            ttr.append(r.rolled_at_s - ONSET_S)
    kinds = Counter(r.case.regression for r in regressions)
    hits = Counter(r.case.regression for r in regressions
                   if r.rolled_at_s is not None and r.rolled_at_s >= ONSET_S)
    print("caught by regression: " + ", ".join(f"{k} {hits[k]}/{n}" for k, n in kinds.items()))
    for strategy, mine_of in (("canary", False), ("rolling", True)):
        mine = [r for r in regressions if r.case.rolling == mine_of]
        hit = [r for r in mine if r.rolled_at_s is not None and r.rolled_at_s >= ONSET_S]
        ctl = [r for r in controls if r.case.rolling == mine_of]
        bad = [r for r in ctl if r.rolled_at_s is not None]
        print(f"{strategy}: controls rolled back {len(bad)}/{len(ctl)}, "
              f"regressions caught {len(hit)}/{len(mine)}")
    canaries = [r for r in results if not r.case.rolling]
    for share in SHARES:
        mine = [r for r in canaries if r.case.regression and r.case.share == share]
        hit = [r for r in mine if r.rolled_at_s is not None and r.rolled_at_s >= ONSET_S]
        ctl = [r for r in canaries if not r.case.regression and r.case.share == share]
        bad = [r for r in ctl if r.rolled_at_s is not None]
        print(f"canary share {share:g}: controls rolled back {len(bad)}/{len(ctl)}, "
              f"regressions caught {len(hit)}/{len(mine)}")
    for profile, rate, lat in [*CONTROLS, *((f"rolling {p}", e, m) for p, e, m in CONTROLS[:3])]:
        ctl = [r for r in controls if r.case.profile == profile]
        bad = [r for r in ctl if r.rolled_at_s is not None]
        print(f"controls '{profile}' ({rate:.1%} 5xx, median {lat:g} s): "
              f"rolled back {len(bad)}/{len(ctl)}")
    watched = sum(r.case.seconds for r in controls) / 3600
    med = statistics.median(ttr) if ttr else float("nan")
    print(f"RESULT fleet false_rollback={false / max(len(results), 1):.3f} "
          f"catch={caught / max(len(regressions), 1):.3f} median_ttr_s={med:.0f} "
          f"controls={len(controls)} watched_hours={watched:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
