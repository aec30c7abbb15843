"""Load for ``bench_decision.py``: deployments, remote-write bodies and their expected outcome.

A *trial* is one canary deployment of its own app: ``deployment.requested`` and
``deployment.started`` events, then snappy-compressed remote-write 1.0 bodies as
Prometheus would send them (one body per 10 s flush, two 5 s scrapes per series),
healthy at first, then with the canary's 5xx ratio jumping from ~0.5 % to ~30 %.

Why the outcome is computed here first: the guard is deterministic, so feeding the
very MetricBatches the API will publish (the same decoder and batching as the ingest
router) through an in-process ``DeploymentGuard`` tells exactly which body completes
the sustained breach (the one timed live) and which ``Verdict`` ids the earlier
bodies cause (the benchmark waits for them, so the timed body never queues behind
its predecessors). The live ``RollbackCommand`` must then carry the same id and
event time as the simulated one, which the benchmark checks.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import cramjam
import numpy as np

from api.ingest.decode import LabelMap, batch_messages, body_digest, decompress, make_mapper
from api.ingest.proto import WriteRequest
from models.guard import DeploymentGuard
from models.policy import load_policies
from schemas import (
    DeploymentRequested,
    DeploymentStarted,
    MetricBatch,
    RollbackCommand,
    Verdict,
)

SCRAPE_MS = 5_000
SCRAPES_PER_BODY = 2  # Prometheus flushes every ~10 s: two scrapes of every series
BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")
HANDLERS = ("/api/orders", "/api/users/{id}")
STABLE, CANARY = "1.0.0", "2.0.0"
MAX_BREACH_BODIES = 12

Labels = dict[str, str]


@dataclass(frozen=True)
class Trial:
    """One deployment's inputs and what the guard must answer."""

    deployment_id: str
    app: str
    events: list[bytes]  # deploy events (JSON), keyed by app on deploy.events
    bodies: list[bytes]  # remote-write bodies in send order; the last completes the breach
    verdict_ids: list[list[str]]  # Verdict ids each body causes
    rollback_id: str
    rollback_at: datetime
    samples: int  # samples in all bodies

    @property
    def wait_before_trigger(self) -> str | None:
        """The last Verdict caused before the timed body (None: nothing to wait for)."""
        ids = [v for per_body in self.verdict_ids[:-1] for v in per_body]
        return ids[-1] if ids else None


def _pod_labels(app: str, dep: str, track: str, version: str, pod: int) -> Labels:
    return {"app": app, "deployment_id": dep, "instance": f"10.1.{pod}.7:8080",
            "job": "kubernetes-pods", "namespace": "bench", "pod": f"{app}-{track}-{pod}",
            "track": track, "version": version}


class _Pod:
    """Cumulative counters of one instrumented pod (requests by code, latency histogram)."""

    def __init__(self, labels: Labels, rng: np.random.Generator) -> None:
        self.labels = labels
        self.rng = rng
        self.ok = {h: 0.0 for h in HANDLERS}
        self.err = {h: 0.0 for h in HANDLERS}
        self.hist = {h: [0.0] * len(BUCKETS) for h in HANDLERS}

    def scrape(self, error_ratio: float) -> None:
        for h in HANDLERS:
            n = int(self.rng.integers(400, 600))  # ~100 req/s per handler over 5 s
            bad = int(self.rng.binomial(n, error_ratio))
            self.ok[h] += n - bad
            self.err[h] += bad
            lat = np.sort(self.rng.lognormal(-3.0, 0.6, n))  # median ~50 ms
            for i, le in enumerate(BUCKETS):
                le_n = n if le == "+Inf" else int(np.searchsorted(lat, float(le), "right"))
                self.hist[h][i] += le_n

    def series(self) -> Iterator[tuple[Labels, float]]:
        for h in HANDLERS:
            base = {**self.labels, "handler": h, "method": "GET"}
            yield {"__name__": "http_requests_total", **base, "code": "200"}, self.ok[h]
            yield {"__name__": "http_requests_total", **base, "code": "500"}, self.err[h]
            for le, count in zip(BUCKETS, self.hist[h], strict=True):
                yield {"__name__": "http_request_duration_seconds_bucket", **self.labels,
                       "handler": h, "le": le}, count


def _body(pods: list[_Pod], scrapes: list[tuple[int, list[float]]]) -> tuple[bytes, int]:
    """One remote-write body: every series with one sample per scrape."""
    req = WriteRequest()
    per_series: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
    for ts, ratios in scrapes:
        for pod, ratio in zip(pods, ratios, strict=True):
            pod.scrape(ratio)
            for labels, value in pod.series():
                per_series.setdefault(tuple(sorted(labels.items())), []).append((ts, value))
    n = 0
    for key, samples in per_series.items():
        ts_msg = req.timeseries.add()
        for lname, lvalue in key:
            ts_msg.labels.add(name=lname, value=lvalue)
        for ts, value in samples:
            ts_msg.samples.add(value=value, timestamp=ts)
            n += 1
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString())), n


def batches_of(body: bytes, mapper: object | None = None) -> list[MetricBatch]:
    """The MetricBatches the ingest router publishes for this body (same decoder)."""
    m = mapper or make_mapper(LabelMap(), 512 * 1024)
    chunks, _kept, _dropped, _hist = m.encode(decompress(body, 64 << 20), 1)  # type: ignore[attr-defined]
    return [MetricBatch.model_validate_json(v) for _a, v, _n in
            batch_messages(chunks, body_digest(body))]


def build_trial(tag: str, i: int, t0_ms: int, healthy_bodies: int = 4, pods_per_track: int = 2,
                seed: int = 0) -> Trial:
    """A canary deployment that goes bad after ``healthy_bodies`` flushes.

    >>> t = build_trial("doc", 0, 1_700_000_000_000)
    >>> t.rollback_id != "" and len(t.bodies) > 4 and t.wait_before_trigger is not None
    True
    """
    rng = np.random.default_rng([seed, i, zlib.crc32(tag.encode())])
    app = f"bench-{tag}-{i:04d}"
    dep = f"{app}-{CANARY}"
    start = datetime.fromtimestamp(t0_ms / 1000, UTC)
    events: list[DeploymentRequested | DeploymentStarted] = [
        DeploymentRequested(occurred_at=start, deployment_id=dep, app=app, version=CANARY,
                            previous_version=STABLE),
        DeploymentStarted(occurred_at=datetime.fromtimestamp((t0_ms + 1000) / 1000, UTC),
                          deployment_id=dep, app=app, version=CANARY, strategy="canary"),
    ]
    pods = [_Pod(_pod_labels(app, dep, "stable", STABLE, p), rng) for p in range(pods_per_track)]
    pods += [_Pod(_pod_labels(app, dep, "canary", CANARY, p), rng) for p in range(pods_per_track)]
    guard = DeploymentGuard(load_policies(None))
    for e in events:
        guard.on_deploy_event(e)
    mapper = make_mapper(LabelMap(), 512 * 1024)
    bodies: list[bytes] = []
    verdicts: list[list[str]] = []
    samples = 0
    ts = t0_ms + 1500
    for b in range(healthy_bodies + MAX_BREACH_BODIES):
        bad = b >= healthy_bodies
        scrapes = []
        for _ in range(SCRAPES_PER_BODY):
            ts += SCRAPE_MS
            ratios = [0.005] * pods_per_track + [0.3 if bad else 0.005] * pods_per_track
            scrapes.append((ts, ratios))
        body, n = _body(pods, scrapes)
        bodies.append(body)
        samples += n
        out = [r for batch in batches_of(body, mapper) for r in guard.on_metrics(batch)]
        verdicts.append([r.id for r in out if isinstance(r, Verdict)])
        rollbacks = [r for r in out if isinstance(r, RollbackCommand)]
        if rollbacks:
            return Trial(dep, app, [e.model_dump_json().encode() for e in events], bodies,
                         verdicts, rollbacks[0].id, rollbacks[0].occurred_at, samples)
    raise RuntimeError(f"trial {app}: no rollback after {len(bodies)} bodies (policy changed?)")
