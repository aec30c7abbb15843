"""Window throughput of the pure guard: metric samples per second on one core.

Usage: ``python tests/bench/bench_windows.py`` (env: PODS, SCRAPES_PER_BATCH, DEPLOYMENTS,
SCRAPES).

Batches are what the ingest API publishes for one app: every series of every pod of
the baseline, canary and stable tracks (request counters by code, a 7-bucket latency
histogram, CPU, memory — 12 series per pod) with ``SCRAPES_PER_BATCH`` samples per
series (a remote-write request collecting several scrapes). Batches are built, sent
through JSON and parsed back into ``MetricBatch`` (as the worker gets them) before
timing. The timed loop is ``DeploymentGuard.on_metrics`` only — routing, windows, and
every analysis tick due (KPI evaluation, canary judge, verdicts, KPI windows) — in one
process. Event time advances 5 s per scrape, so each deployment is judged every 10 s
of event time: samples per tick grow with pods, tick cost does not.

Also timed, to show where the time goes: ingest alone (``WindowSet.ingest_batch`` on
the same batches, no ticks) and the cost of one analysis tick of one deployment.
Last line ``RESULT windows samples_per_s=... samples_per_s_1=... ingest_samples_per_s=...
tick_ms=...``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.guard import DeploymentGuard  # noqa: E402
from models.policy import load_policies  # noqa: E402
from schemas import MetricBatch  # noqa: E402
from tests.bench.guard_load import ingest_per_app  # noqa: E402
from tests.kpi.factory import T0_MS, Fleet, TrackLoad, lifecycle  # noqa: E402


def batches(per_batch: int, pods: int, deployments: int, scrapes: int) -> list[MetricBatch]:
    """The timed input, round-tripped through JSON like the worker's consumer does."""
    fleets = [Fleet(app=f"app{d}", deployment_id=f"d{d}", seed=d) for d in range(deployments)]
    loads = {
        "baseline": TrackLoad(pods=pods),
        "canary": TrackLoad(pods=pods),
        "stable": TrackLoad(pods=pods * 4),
    }
    work = []
    for i in range(max(1, scrapes // per_batch)):
        for f in fleets:
            b = f.scrape(T0_MS + 5000 * (i * per_batch + 1), loads, per_batch)
            work.append(MetricBatch.model_validate_json(b.model_dump_json()))
    return work


def measure(work: list[MetricBatch], deployments: int) -> tuple[float, int, int]:
    """Samples/s through ``on_metrics``, outputs produced, analysis ticks run."""
    guard = DeploymentGuard(load_policies(None))
    for d in range(deployments):
        for ev in lifecycle(dep=f"d{d}", app=f"app{d}"):
            guard.on_deploy_event(ev)
    samples = sum(b.sample_count() for b in work)
    outputs = 0
    t0 = time.perf_counter()
    for b in work:
        outputs += len(guard.on_metrics(b))
    elapsed = time.perf_counter() - t0
    ticks = sum(w.ticks for w in guard._watches.values())
    return samples / elapsed, outputs, ticks


def ingest_only(work: list[MetricBatch]) -> float:
    """Samples/s of the windows alone: the same batches, no routing to deployments, no ticks."""
    items = [(b.app, [(s, s.track) for s in b.series]) for b in work]
    samples = sum(b.sample_count() for b in work)
    t0 = time.perf_counter()
    ingest_per_app(items)
    return samples / (time.perf_counter() - t0)


def main() -> None:
    pods = int(os.environ.get("PODS", "4"))
    per = int(os.environ.get("SCRAPES_PER_BATCH", "12"))
    deps = int(os.environ.get("DEPLOYMENTS", "4"))
    scrapes = int(os.environ.get("SCRAPES", "240"))
    work_1, work_n = batches(1, pods, deps, scrapes), batches(per, pods, deps, scrapes)
    rate_1, out_1, _ = measure(work_1, deps)
    rate_n, out_n, ticks = measure(work_n, deps)
    ingest = ingest_only(work_n)
    samples = sum(b.sample_count() for b in work_n)
    tick_ms = max(0.0, (samples / rate_n - samples / ingest) / max(ticks, 1) * 1000)
    print(f"series per batch={12 * pods * 6} (pods={pods} per track, stable x4) deployments={deps}")
    print(f"samples per deployment-tick={samples / max(ticks, 1):.0f} ({ticks} ticks)")
    print(f"1 sample/series:  {rate_1:,.0f} samples/s ({out_1} outputs)")
    print(f"{per} samples/series: {rate_n:,.0f} samples/s ({out_n} outputs)")
    print(
        f"ingest only ({per}/series): {ingest:,.0f} samples/s; one analysis tick ~{tick_ms:.2f} ms"
    )
    print(
        f"RESULT windows samples_per_s={rate_n:.0f} samples_per_s_1={rate_1:.0f} "
        f"ingest_samples_per_s={ingest:.0f} tick_ms={tick_ms:.2f}"
    )


if __name__ == "__main__":
    main()
