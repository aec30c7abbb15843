"""Realistic remote-write payloads: cAdvisor, kube-state-metrics and HTTP-server series.

Used by the decode tests and by tests/bench/bench_ingest.py. Series look like what a
Kubernetes Prometheus scrapes (label names and cardinalities of kubelet/cAdvisor,
kube-state-metrics and an instrumented HTTP service); pods carry ``app`` / ``version``
/ ``track`` / ``deployment_id`` labels through relabeling, as smartdeploy expects.
Everything is deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import cramjam

from api.ingest.proto import RequestV2, WriteRequest

Labels = dict[str, str]

BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")
TRACKS = ("stable", "stable", "stable", "canary", "baseline")


def _pods(rng: random.Random, apps: int) -> list[Labels]:
    pods = []
    for a in range(apps):
        app = f"svc-{a:02d}"
        for p in range(rng.randint(2, 5)):
            track = TRACKS[p % len(TRACKS)]
            version = "v1.4.2" if track == "stable" else "v1.5.0"
            uid = f"{rng.getrandbits(64):016x}"
            pods.append(
                {
                    "app": app,
                    "track": track,
                    "version": version,
                    "deployment_id": f"dep-{app}-{version}",
                    "namespace": f"team-{a % 7}",
                    "pod": f"{app}-{uid[:10]}-{uid[10:15]}",
                    "node": f"node-{rng.randint(1, 40)}",
                    "uid": uid,
                }
            )
    return pods


def _cadvisor(pod: Labels) -> Iterator[Labels]:
    base = {
        "app": pod["app"],
        "track": pod["track"],
        "version": pod["version"],
        "deployment_id": pod["deployment_id"],
        "container": pod["app"],
        "id": f"/kubepods/burstable/pod{pod['uid']}/{pod['uid'][::-1]}",
        "image": f"registry.example.com/{pod['app']}:{pod['version']}",
        "instance": f"{pod['node']}:10250",
        "job": "kubelet",
        "metrics_path": "/metrics/cadvisor",
        "name": f"k8s_{pod['app']}_{pod['pod']}_{pod['namespace']}_{pod['uid']}_0",
        "namespace": pod["namespace"],
        "node": pod["node"],
        "pod": pod["pod"],
        "service": "kubelet",
    }
    for name in (
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_memory_rss",
        "container_cpu_cfs_throttled_periods_total",
        "container_fs_reads_bytes_total",
        "container_fs_writes_bytes_total",
    ):
        yield {"__name__": name, **base, **({"cpu": "total"} if "cpu_usage" in name else {})}
    for iface in ("eth0", "lo"):
        for name in (
            "container_network_receive_bytes_total",
            "container_network_transmit_bytes_total",
        ):
            yield {"__name__": name, **base, "interface": iface}


def _kube_state(pod: Labels) -> Iterator[Labels]:
    base = {
        "instance": "10.0.3.17:8080",
        "job": "kube-state-metrics",
        "namespace": pod["namespace"],
        "pod": pod["pod"],
        "uid": pod["uid"],
        "service": "kube-state-metrics",
    }
    for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
        yield {"__name__": "kube_pod_status_phase", **base, "phase": phase}
    yield {"__name__": "kube_pod_container_status_restarts_total", **base, "container": pod["app"]}
    yield {"__name__": "kube_pod_status_ready", **base, "condition": "true"}


def _http(pod: Labels) -> Iterator[Labels]:
    base = {
        "app": pod["app"],
        "track": pod["track"],
        "version": pod["version"],
        "deployment_id": pod["deployment_id"],
        "instance": f"{pod['pod']}:8080",
        "job": "kubernetes-pods",
        "namespace": pod["namespace"],
        "pod": pod["pod"],
    }
    for handler in ("/api/orders", "/api/users/{id}", "/healthz"):
        for code in ("200", "500") if handler != "/healthz" else ("200",):
            yield {
                "__name__": "http_requests_total",
                **base,
                "method": "GET",
                "handler": handler,
                "code": code,
            }
        for le in BUCKETS:
            yield {
                "__name__": "http_request_duration_seconds_bucket",
                **base,
                "handler": handler,
                "le": le,
            }
        for suffix in ("sum", "count"):
            yield {
                "__name__": f"http_request_duration_seconds_{suffix}",
                **base,
                "handler": handler,
            }
    yield {"__name__": "process_resident_memory_bytes", **base}
    yield {"__name__": "up", **base}


def series_labels(n_series: int = 2000, seed: int = 0) -> list[Labels]:
    """About ``n_series`` label sets, mixed like a real scrape (sorted labels)."""
    rng = random.Random(seed)
    out: list[Labels] = []
    while len(out) < n_series:
        for pod in _pods(rng, apps=12):
            for gen in (_cadvisor, _kube_state, _http):
                out.extend(dict(sorted(lb.items())) for lb in gen(pod))
    return out[:n_series]


def _values(rng: random.Random, n: int, nan_every: int) -> list[float]:
    return [
        float("nan") if nan_every and i % nan_every == 0 else round(rng.uniform(0, 1e6), 3)
        for i in range(n)
    ]


def write_request(labels: list[Labels], ts_ms: int, seed: int = 0, nan_every: int = 0) -> Any:
    """A remote-write 1.0 ``WriteRequest`` with one sample per series."""
    rng = random.Random(seed)
    req = WriteRequest()
    for lb, value in zip(labels, _values(rng, len(labels), nan_every), strict=True):
        ts = req.timeseries.add()
        for k, v in lb.items():
            ts.labels.add(name=k, value=v)
        ts.samples.add(value=value, timestamp=ts_ms)
    return req


def request_v2(labels: list[Labels], ts_ms: int, seed: int = 0, nan_every: int = 0) -> Any:
    """The same series as a remote-write 2.0 ``Request`` (interned symbols)."""
    rng = random.Random(seed)
    req = RequestV2()
    index: dict[str, int] = {"": 0}
    req.symbols.append("")

    def ref(s: str) -> int:
        if s not in index:
            index[s] = len(index)
            req.symbols.append(s)
        return index[s]

    for lb, value in zip(labels, _values(rng, len(labels), nan_every), strict=True):
        ts = req.timeseries.add()
        for k, v in lb.items():
            ts.labels_refs.extend([ref(k), ref(v)])
        ts.samples.add(value=value, timestamp=ts_ms)
    return req


def snappy(msg: Any) -> bytes:
    """Serialized and snappy block-compressed, as Prometheus sends it."""
    return bytes(cramjam.snappy.compress_raw(msg.SerializeToString()))
