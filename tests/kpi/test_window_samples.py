"""Tick reads built as KpiSamples in C (models/_win_samples.h) equal the numpy reference.

The property test in test_windows_native.py compares random windows; these cases pin
the paths random feeds reach rarely: counters averaged over the active series of each
span (and a series last seen exactly at a span's start), and the sample object shared by
spans that add no bucket.
"""

from __future__ import annotations

import pytest

from models.kpi import KpiSample
from models.policy import AppPolicy
from schemas import Series
from tests.kpi.test_windows_native import POLICY, SUMS, T0, pair

SPANS = [30.0, 60.0, 120.0]
TICK = T0 + 60_000


def _cpu(pod: str, seconds: list[int], values: list[float]) -> tuple[Series, str]:
    stamps = [T0 + s * 1000 for s in seconds]
    return Series(name="process_cpu_seconds_total", labels={"pod": pod},
                  timestamps_ms=stamps, values=values), "canary"


def _fields(s: KpiSample) -> list[object]:
    arrays = (s.points, s.num_points, s.den_points)
    return [s.value, s.samples, s.num, s.den, *(None if a is None else a.tolist() for a in arrays)]


def _cpu_reads(policy: AppPolicy) -> list[KpiSample]:
    ref, fast = pair(policy)
    batch = [
        _cpu("a", [20, 25, 40, 55], [1.0, 2.0, 4.0, 7.0]),  # active in every span
        _cpu("b", [0, 5, 30], [0.0, 1.0, 3.0]),  # last seen exactly 30 s before the tick
        _cpu("c", [5, 10, 25], [0.0, 2.0, 6.0]),  # last seen 35 s before: not in 30 s
    ]
    assert ref.ingest_batch(batch) == fast.ingest_batch(batch)
    cpu = next(k.index for k in fast.kpis if k.policy.name == "cpu")
    got, want = (w.samples("canary", cpu, TICK, SPANS) for w in (fast, ref))
    assert [_fields(s) for s in got] == [_fields(s) for s in want]
    return got


def test_a_counter_rate_counts_the_series_active_in_each_span() -> None:
    mean, total = _cpu_reads(POLICY), _cpu_reads(SUMS)
    for reads in (mean, total):
        assert [s.den for s in reads] == [2.0, 3.0, 3.0]  # active series per span
    for m, t in zip(mean, total, strict=True):  # "mean": per series; "sum": all of them
        assert m.value is not None and t.value is not None and m.num == t.num > 0
        assert m.value * m.den == pytest.approx(t.value)
        assert (m.points * m.den).tolist() == pytest.approx(t.points.tolist())


def test_spans_that_add_no_bucket_share_one_sample_and_the_others_do_not() -> None:
    ref, fast = pair()
    stamps = [T0 + 35_000 + 5000 * i for i in range(5)]  # the last 25 s before the tick
    batch = [
        (Series(name="http_requests_total", labels={"code": code}, timestamps_ms=stamps,
                values=[float(i * (5 if code == "200" else 1)) for i in range(5)]), "canary")
        for code in ("200", "503")
    ] + [
        (Series(name="http_request_duration_seconds_bucket", labels={"le": le},
                timestamps_ms=stamps, values=[float(i * 3) for i in range(5)]), "canary")
        for le in ("0.1", "+Inf")
    ]
    assert ref.ingest_batch(batch) == fast.ingest_batch(batch)
    ratio, quantile = (k.index for k in fast.kpis[:2])
    got = fast.samples("canary", ratio, TICK, SPANS)
    assert got[0] is got[1] is got[2]  # every bucket with data is in the 30 s span
    assert _fields(got[2]) == _fields(ref.samples("canary", ratio, TICK, SPANS)[2])
    q = fast.samples("canary", quantile, TICK, SPANS)
    want = ref.samples("canary", quantile, TICK, SPANS)
    assert q[0] is not q[1]  # same per-bucket values, but a longer histogram
    assert [len(s.hist) for s in q] == [6, 12, 24]
    for a, b in zip(q, want, strict=True):
        assert (a.value, a.points.tolist(), a.hist.tolist()) == (b.value, b.points.tolist(),
                                                                  b.hist.tolist())
