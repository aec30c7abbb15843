"""Window throughput of the pure guard: metric samples per second on one core.

Usage: ``python tests/bench/bench_windows.py`` (env: PODS, SCRAPES_PER_BATCH, DEPLOYMENTS).

Batches are what the ingest API publishes for one app: every series of every pod of
the baseline, canary and stable tracks (request counters by code, a 7-bucket latency
histogram, CPU, memory — 12 series per pod) with ``SCRAPES_PER_BATCH`` samples per
series (a remote-write request collecting several scrapes). Batches are built before
timing; the timed loop is ``DeploymentGuard.on_metrics`` only (routing, windows, KPI
evaluation, verdicts) in one process. Prints samples/s for 1 and for N samples per
series; last line ``RESULT windows samples_per_s=... samples_per_s_1=...``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.guard import DeploymentGuard  # noqa: E402
from models.policy import load_policies  # noqa: E402
from tests.kpi.factory import T0_MS, Fleet, TrackLoad, lifecycle  # noqa: E402


def measure(per_batch: int, pods: int, deployments: int, batches: int) -> tuple[float, int]:
    guard = DeploymentGuard(load_policies(None))
    fleets, work = [], []
    for d in range(deployments):
        dep, app = f"d{d}", f"app{d}"
        for ev in lifecycle(dep=dep, app=app):
            guard.on_deploy_event(ev)
        fleets.append(Fleet(app=app, deployment_id=dep, seed=d))
    loads = {
        "baseline": TrackLoad(pods=pods),
        "canary": TrackLoad(pods=pods),
        "stable": TrackLoad(pods=pods * 4),
    }
    for i in range(batches):
        for f in fleets:
            work.append(f.scrape(T0_MS + 5000 * (i * per_batch + 1), loads, per_batch))
    samples = sum(b.sample_count() for b in work)
    outputs = 0
    t0 = time.perf_counter()
    for b in work:
        outputs += len(guard.on_metrics(b))
    elapsed = time.perf_counter() - t0
    return samples / elapsed, outputs


def main() -> None:
    pods = int(os.environ.get("PODS", "4"))
    per = int(os.environ.get("SCRAPES_PER_BATCH", "12"))
    deps = int(os.environ.get("DEPLOYMENTS", "4"))
    rate_1, out_1 = measure(1, pods, deps, 240)
    rate_n, out_n = measure(per, pods, deps, max(1, 240 // per))
    print(f"series per batch={12 * pods * 6} (pods={pods} per track, stable x4) deployments={deps}")
    print(f"1 sample/series:  {rate_1:,.0f} samples/s ({out_1} outputs)")
    print(f"{per} samples/series: {rate_n:,.0f} samples/s ({out_n} outputs)")
    print(f"RESULT windows samples_per_s={rate_n:.0f} samples_per_s_1={rate_1:.0f}")


if __name__ == "__main__":
    main()
