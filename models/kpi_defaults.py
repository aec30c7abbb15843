"""The built-in policy every app gets unless a policy file says otherwise.

Four KPIs an SRE team watches on any HTTP service: the 5xx error rate (ratio of counter
increases), p99 latency (histogram quantile), CPU (counter rate per series) and memory
(gauge average). ``deploy/policies/default.yaml`` spells out the same values.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "analysis_interval": "10s",
    "bake_time": "5m",
    "min_samples": 3,
    "inconclusive_limit": 6,
    "kpis": [
        {
            "name": "error_rate",
            "kind": "ratio",
            "window": "30s",
            "for": "30s",
            "numerator": {"metric": "http_requests_total", "match": {"code": "5.."}},
            "denominator": {"metric": "http_requests_total"},
            "max": 0.05,
            "max_ratio": 2.0,
            "relative_floor": 0.01,
        },
        {
            "name": "latency_p99",
            "kind": "quantile",
            "quantile": 0.99,
            "window": "60s",
            "for": "30s",
            "metric": {"metric": "http_request_duration_seconds_bucket"},
            "max": 2.0,
            "max_ratio": 1.5,
            "relative_floor": 0.05,
        },
        {
            "name": "cpu",
            "kind": "counter_rate",
            "window": "60s",
            "for": "60s",
            "metric": {"metric": "container_cpu_usage_seconds_total|process_cpu_seconds_total"},
            "aggregate": "mean",
            "max_ratio": 1.5,
            "relative_floor": 0.05,
            "judge": False,
        },
        {
            "name": "memory",
            "kind": "gauge_avg",
            "window": "60s",
            "for": "60s",
            "metric": {
                "metric": "container_memory_working_set_bytes|process_resident_memory_bytes"
            },
            "max_ratio": 1.3,
            "relative_floor": 50e6,
            "judge": False,
        },
    ],
}
