"""Synthetic service traffic as Prometheus exporters expose it, for the demo and tests.

Cumulative counters ``http_requests_total{code}`` and a cumulative latency
histogram ``http_request_duration_seconds_bucket{le}``, advanced one scrape
interval at a time with Poisson errors and log-normal latencies.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from schemas import Series

SCRAPE_S = 15
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class Service:
    app: str
    app_type: str
    rps: float
    p50_s: float
    error_rate: float
    compliance: tuple[str, ...] = ()
    spare_capacity: float = 0.5
    mirroring: bool = False


@dataclass
class Counters:
    ok: float = 0.0
    err: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * (len(BUCKETS) + 1))
    total_latency: float = 0.0


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, normal approximation for large ones)."""
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def _latency_sample(rng: random.Random, p50: float, jitter: float) -> float:
    return p50 * math.exp(rng.gauss(0.0, jitter))


def scrape(
    rng: random.Random, c: Counters, s: Service, p50: float, err: float, share: float
) -> None:
    """Advance cumulative counters by one scrape interval of traffic."""
    n = max(1, int(s.rps * share * SCRAPE_S))
    errors = min(n, _poisson(rng, err * n))
    c.err += errors
    c.ok += n - errors
    for _ in range(min(n, 200)):
        lat = _latency_sample(rng, p50, 0.35)
        w = n / min(n, 200)
        c.total_latency += lat * w
        for bi, le in enumerate(BUCKETS):
            if lat <= le:
                c.buckets[bi] += w
        c.buckets[-1] += w


def series_of(
    s: Service, version: str, track: str, dep: str | None, c: Counters, ts_ms: int
) -> list[Series]:
    """One scrape of a track, as a real exporter would expose it (cumulative values)."""
    base = {"app": s.app, "version": version, "track": track, "namespace": "shop"}
    points: list[tuple[str, dict[str, str], float]] = [
        ("http_requests_total", {"code": "200"}, round(c.ok, 3)),
        ("http_requests_total", {"code": "500"}, round(c.err, 3)),
    ]
    for bi, le in enumerate((*map(str, BUCKETS), "+Inf")):
        points.append(("http_request_duration_seconds_bucket", {"le": le}, round(c.buckets[bi], 3)))
    points.append(("http_request_duration_seconds_count", {}, round(c.buckets[-1], 3)))
    points.append(("http_request_duration_seconds_sum", {}, round(c.total_latency, 4)))
    return [
        Series.model_validate(
            {
                "name": name,
                "labels": {**base, **extra},
                "deployment_id": dep,
                "version": version,
                "track": track,
                "timestamps_ms": [ts_ms],
                "values": [value],
            }
        )
        for name, extra, value in points
    ]
