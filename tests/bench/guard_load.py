"""Throughput load for ``bench_decision.py``: many watched canaries, healthy, in-process.

The pure ``DeploymentGuard`` (routing, windows, every analysis tick) and the windows
alone are timed on the same batches, each also with the windows' numpy paths as the
reference the C kernels (models/_windows.c) replaced, alternating, so ratios come from
one host in one hour.
"""

from __future__ import annotations

import functools
import math
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from models.guard import DeploymentGuard
from models.kpi_watch import compile_kpis
from models.policy import load_policies
from models.windows import WindowSet
from schemas import DeploymentRequested, DeploymentStarted, MetricBatch, RollbackCommand, Series
from tests.bench.decision_load import BUCKETS, CANARY, HANDLERS, SCRAPE_MS, STABLE, Labels


def _increment(name: str, labels: Labels, rng: np.random.Generator) -> float:
    """A healthy scrape's counter increase: ~500 requests, 0.5 % errors, ~50 ms latency."""
    if name == "http_requests_total":
        return float(rng.binomial(500, 0.005)) if labels["code"] == "500" else 500.0
    if name == "http_request_duration_seconds_bucket":
        le = labels["le"]
        if le == "+Inf":
            return 500.0
        z = (math.log(float(le)) + 3.0) / 0.6
        return float(round(500 * 0.5 * math.erfc(-z / math.sqrt(2))))
    return 0.25 + float(rng.random()) * 0.01  # CPU seconds per 5 s


@functools.lru_cache(maxsize=2)
def throughput_batches(deployments: int, batches: int, samples_per_series: int,
                       pods_per_track: int = 2, seed: int = 1
                       ) -> tuple[list[DeploymentRequested | DeploymentStarted], list[MetricBatch]]:
    """A healthy metric load for the in-process guard: KPI series of many watched canaries.

    Every series feeds a default KPI (requests by code, latency buckets, CPU, memory), so
    each sample counted is a sample the windows really take in; the load stays healthy,
    so every deployment is watched to the end. Batches are per app, like the ingest
    publishes them, and rotate over the deployments in event-time order.
    """
    rng = np.random.default_rng(seed)
    t0 = 1_700_000_000_000
    events: list[DeploymentRequested | DeploymentStarted] = []
    shapes: list[tuple[str, str, list[tuple[str, Labels, str, str]]]] = []
    for d in range(deployments):
        app, dep = f"tp-{d:04d}", f"tp-{d:04d}-{CANARY}"
        at = datetime.fromtimestamp(t0 / 1000, UTC)
        events.append(DeploymentRequested(occurred_at=at, deployment_id=dep, app=app,
                                          version=CANARY, previous_version=STABLE))
        events.append(DeploymentStarted(occurred_at=at, deployment_id=dep, app=app,
                                        version=CANARY, strategy="canary"))
        series: list[tuple[str, Labels, str, str]] = []
        for track, version in (("stable", STABLE), ("canary", CANARY)):
            for p in range(pods_per_track):
                pod = {"app": app, "instance": f"10.2.{p}.9:8080", "pod": f"{app}-{track}-{p}",
                       "namespace": "bench", "job": "kubernetes-pods"}
                for h in HANDLERS:
                    for code in ("200", "500"):
                        series.append(("http_requests_total", {**pod, "handler": h, "code": code},
                                       track, version))
                    for le in BUCKETS:
                        series.append(("http_request_duration_seconds_bucket",
                                       {**pod, "handler": h, "le": le}, track, version))
                series.append(("container_cpu_usage_seconds_total", pod, track, version))
                series.append(("container_memory_working_set_bytes", pod, track, version))
        shapes.append((app, dep, series))
    out: list[MetricBatch] = []
    totals: dict[tuple[int, int], float] = {}
    for b in range(batches):
        d, rnd = b % deployments, b // deployments
        app, dep, series = shapes[d]
        first = t0 + 2000 + rnd * samples_per_series * SCRAPE_MS
        stamps = [first + k * SCRAPE_MS for k in range(samples_per_series)]
        s_out = []
        for j, (name, labels, track, version) in enumerate(series):
            vals = []
            for _ in stamps:
                if name == "container_memory_working_set_bytes":
                    vals.append(2e8 + float(rng.random()) * 1e6)
                else:
                    totals[(d, j)] = totals.get((d, j), 0.0) + _increment(name, labels, rng)
                    vals.append(totals[(d, j)])
            s_out.append(Series(name=name, labels=labels, deployment_id=dep, version=version,
                                track=track,  # type: ignore[arg-type]
                                timestamps_ms=stamps, values=vals))
        out.append(MetricBatch(occurred_at=datetime.fromtimestamp(stamps[-1] / 1000, UTC),
                               app=app, series=s_out))
    return events, out


def guard_throughput(deployments: int, batches: int, samples_per_series: int,
                     log: Callable[[str], None], native: bool = True) -> float:
    """Samples/s of ``DeploymentGuard.on_metrics`` (CPU time of the timed loop, one core).

    The load is healthy; should the guard still roll a deployment back, it skips that
    deployment's later batches, so their samples are not counted (and it is said).
    ``native=False``: the windows' numpy paths instead of their C kernels (a reference).
    """
    events, load = throughput_batches(deployments, batches, samples_per_series)
    guard = DeploymentGuard(load_policies(None))
    WindowSet.native = native
    for e in events:
        guard.on_deploy_event(e)
    kinds: Counter[str] = Counter()
    rolled: set[str] = set()
    samples = 0
    counts = [((b.series[0].deployment_id or ""), b.sample_count()) for b in load]  # untimed
    start = time.process_time()
    for b, (dep, n) in zip(load, counts, strict=True):
        if dep not in rolled:
            samples += n
        for o in guard.on_metrics(b):
            kinds[type(o).__name__] += 1
            if isinstance(o, RollbackCommand):
                rolled.add(o.deployment_id)
                log(f"  FALSE ROLLBACK on the healthy load: {o.deployment_id}: {o.reason}; "
                    + "; ".join(f"{e.kpi} {e.rule} {e.detail}" for e in o.evidence))
    cpu = time.process_time() - start
    WindowSet.native = True
    which = "guard" if native else "guard (numpy windows)"
    log(f"  {which}: {samples} samples in {len(load)} batches of {samples_per_series} "
        f"scrape(s)/series: {cpu:.2f} s CPU, {samples / cpu:,.0f} samples/s, {dict(kinds)}")
    return samples / cpu


def ingest_per_app(work: list[tuple[str, list[tuple[Series, str]]]]) -> None:
    """The windows alone: each app's batches into its own ``WindowSet``, no ticks."""
    policy = load_policies(None).for_app("bench")
    sets: dict[str, WindowSet] = {}
    for app, group in work:
        ws = sets.get(app)
        if ws is None:
            ws = sets[app] = WindowSet(policy, compile_kpis(policy))
        ws.ingest_batch(group)


def windows_throughput(deployments: int, batches: int, samples_per_series: int,
                       log: Callable[[str], None], native: bool = True) -> float:
    """Samples/s into the sliding windows alone: the same load, no analysis ticks.

    One ``WindowSet`` per deployment takes each batch's series with their tracks
    (``ingest_batch``: routing by labels, counter increases, bucket sums). What the guard
    adds on top (KPI reads, the canary judge, verdicts, output records) is the rest of
    ``guard_throughput``'s time.
    """
    _, load = throughput_batches(deployments, batches, samples_per_series)
    WindowSet.native = native
    work = [(b.app, [(s, s.track) for s in b.series]) for b in load]
    samples = sum(b.sample_count() for b in load)
    start = time.process_time()
    ingest_per_app(work)
    cpu = time.process_time() - start
    WindowSet.native = True
    which = "windows only" if native else "windows only (numpy)"
    log(f"  {which}: {samples} samples: {cpu:.2f} s CPU, {samples / cpu:,.0f} samples/s")
    return samples / cpu


def report(deployments: int, batches: int, samples_per_series: int, rounds: int, sweep: bool,
           log: Callable[[str], None]) -> float:
    """Median guard samples/s over ``rounds``; logs the numpy reference and the windows alone.

    ``sweep``: also the guard with 1, 10 and 60 scrapes per series (the same number of
    samples in fewer, denser batches).
    """
    shape = (deployments, batches, samples_per_series)
    rates, refs = [], []
    for _ in range(rounds):
        refs.append(guard_throughput(*shape, log, native=False))
        rates.append(guard_throughput(*shape, log))
    rate, ref = float(np.median(rates)), float(np.median(refs))
    log(f"  guard, median of {rounds}: {rate:,.0f} samples/s; "
        f"numpy windows {ref:,.0f}; ratio {rate / ref:.2f}")
    alone = [windows_throughput(*shape, log, native=native)
             for _ in range(rounds) for native in (False, True)]
    log(f"  windows only (no ticks), median of {rounds}: {np.median(alone[1::2]):,.0f} "
        f"samples/s; numpy {np.median(alone[::2]):,.0f}")
    if sweep:
        for sps in (1, 10, 60):
            n = max(deployments, batches * samples_per_series // sps)
            guard_throughput(deployments, n, sps, log)
    return rate
