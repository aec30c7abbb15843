"""Absolute thresholds on counted KPIs (ratios, histogram quantiles) must rule out chance.

A canary on one or two requests per second, at the same 3 % 5xx rate as its baseline,
was rolled back by the shipped ``max: 0.05`` within minutes: 4 errors in 60 requests
is 6.7 %, and a few unlucky 10 s buckets sustain that for 30 s. The ``max``/``min`` of
a ratio KPI now breach only when a one-sided binomial test at ``count_confidence``
rejects "the true ratio is within the threshold"; a real 5xx spike on the same low
traffic is still rolled back at once. Likewise a histogram p99 breaches ``max`` only
when more than 1 % of the requests lie beyond the bucket bound at or past it, not when
interpolation inside a wide bucket (bounds 1 and 2.5 s) reads a true 1.3 s as 2.1 s.
Without a baseline track (a rolling deploy judged against the app's learned level),
relative rules take their significance from the counts (ratios) or the learned score,
and the learned score alone no longer rolls back a KPI that has a relative rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from models.kpi import KpiSample, hist_quantile
from models.policy import build_policies
from models.rank_tests import binom_sf, ratio_beyond_p
from models.verdict import assess
from tests.kpi.factory import (
    T0_MS,
    Fleet,
    TrackLoad,
    canary_guard,
    drive,
    of_type,
    rolling_guard,
)

POLICY = build_policies(None).default


def ratio_kpi(**rule: object):  # a ratio KPI with only the given absolute rule
    doc = {
        "name": "errors",
        "kind": "ratio",
        "numerator": {"metric": "req", "match": {"code": "5.."}},
        "denominator": {"metric": "req"},
        "judge": False,
        "learned": False,
        **rule,
    }
    return build_policies({"defaults": {"kpis": [doc]}}).default.kpis[-1]


@pytest.mark.parametrize(
    ("rule", "num", "den", "expected"),
    [
        ({"max": 0.05}, 4, 60, "ok"),  # 6.7 %, but likely at a true 5 %
        ({"max": 0.05}, 30, 60, "breach"),  # a real spike on low traffic
        ({"max": 0.05}, 340, 6000, "ok"),  # 5.7 % of 6,000: within chance of 5 % (p=1e-3)
        ({"max": 0.05}, 380, 6000, "breach"),  # 6.3 % of 6,000: not chance
        ({"max": 0.05, "count_confidence": 0}, 4, 60, "breach"),  # value-only comparison
        ({"min": 0.95, "direction": "down"}, 45, 60, "breach"),  # success ratio 75 %
        ({"min": 0.95, "direction": "down"}, 56, 60, "ok"),  # 93 %: likely at 95 %
        ({"max": 0.05}, 2, 60, "ok"),  # under the threshold: no test needed
    ],
)
def test_absolute_ratio_rules_weigh_the_counts(
    rule: dict, num: float, den: float, expected: str
) -> None:
    subj = KpiSample(num / den, 12, np.full(6, num / den), float(num), float(den))
    st_ = assess(ratio_kpi(**rule), POLICY, "stable", subj, None, None)
    assert st_.status == expected
    if expected == "breach":
        assert st_.rule in ("max", "min")
        weighed = rule.get("count_confidence", 0.9999) > 0
        assert ("binomial p=" in st_.detail) == weighed


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 20_000),
    frac=st.floats(0.0, 1.0),
    p=st.floats(1e-4, 0.9999),
)
def test_binomial_tail_matches_scipy(n: int, frac: float, p: float) -> None:
    k = int(frac * n)
    ours, ref = binom_sf(k, n, p), float(binom.sf(k - 1, n, p))
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 5000), frac=st.floats(0.0, 1.0), limit=st.floats(0.001, 0.999))
def test_up_and_down_tails_are_mirror_images(n: int, frac: float, limit: float) -> None:
    k = int(frac * n)
    assert ratio_beyond_p(k, n, limit, "down") == pytest.approx(
        ratio_beyond_p(n - k, n, 1 - limit, "up"), rel=1e-9, abs=1e-15
    )


def _watch(rps: float, share: float, canary_at: dict[int, TrackLoad], seed: int, n: int):
    """Baseline and canary at a 3 % 5xx rate (under the shipped ``max: 0.05``)."""
    base = TrackLoad(rps=rps, error_rate=0.03)
    canary = TrackLoad(rps=rps * share, error_rate=0.03)
    fleet = Fleet(app="lt-app", deployment_id="lt", seed=seed)

    def loads(k: int) -> dict[str, TrackLoad]:
        return {"baseline": base, "canary": canary_at.get(k, canary)}

    return drive(canary_guard("lt", "lt-app"), fleet, loads, T0_MS + 5000, n, 2)


@pytest.mark.parametrize(("share", "seed"), [(0.25, 3), (0.1, 4)])
def test_a_healthy_low_traffic_canary_near_the_absolute_threshold_is_not_rolled_back(
    share: float, seed: int
) -> None:
    """One hour at 1.25 / 0.5 requests per second; before the fix, rolled back in minutes."""
    assert of_type(_watch(5.0, share, {}, seed, 720), "RollbackCommand") == []


def test_a_5xx_spike_on_a_low_traffic_canary_is_still_rolled_back_at_once() -> None:
    onset = 60  # scrapes of 5 s
    spike = TrackLoad(rps=0.5, error_rate=0.4)
    out = _watch(5.0, 0.1, {k: spike for k in range(onset, 240)}, seed=5, n=240)
    rollbacks = of_type(out, "RollbackCommand")
    assert len(rollbacks) == 1 and "error_rate" in rollbacks[0].reason
    assert {e.rule for e in rollbacks[0].evidence} & {"max", "judge:counts", "judge:shift"}
    delay_s = rollbacks[0].occurred_at.timestamp() - (T0_MS + 5000 + onset * 5000) / 1000
    assert 0 <= delay_s <= 90


def quantile_kpi(**rule: object):  # a p99 KPI with only the given absolute rule
    doc = {
        "name": "p99",
        "kind": "quantile",
        "quantile": 0.99,
        "metric": {"metric": "lat_bucket"},
        "judge": False,
        "learned": False,
        **rule,
    }
    return build_policies({"defaults": {"kpis": [doc]}}).default.kpis[-1]


LES = np.array([0.5, 1.0, 2.5, np.inf])


@pytest.mark.parametrize(
    ("cum", "rule", "expected"),
    [
        ([900, 960, 1000, 1000], {"max": 2.0}, "ok"),  # interpolates to 2.1, none above 2.5
        ([900, 950, 970, 1000], {"max": 2.0}, "breach"),  # 3 % above 2.5 s
        ([900, 970, 998, 1000], {"max": 2.0}, "ok"),  # 0.2 % above 2.5 s: p99 under it
        ([900, 960, 1000, 1000], {"max": 2.0, "count_confidence": 0}, "breach"),  # PromQL-like
        ([900, 970, 990, 1000], {"max": 1.0}, "breach"),  # on a bound: 3 % above 1 s
    ],
)
def test_absolute_quantile_rules_need_requests_beyond_a_bound(
    cum: list[float], rule: dict, expected: str
) -> None:
    hist = np.array([cum], dtype=float) / 2  # two scrape buckets of half the requests
    hist = np.vstack([hist, hist])
    value = float(hist_quantile(0.99, LES, hist.sum(axis=0))[0])
    subj = KpiSample(value, 12, np.full(6, value), bounds=LES, hist=hist)
    assert value > rule["max"]  # every row is over the threshold by interpolation
    assert assess(quantile_kpi(**rule), POLICY, "stable", subj, None, None).status == expected


def _latency_watch(canary_at: dict[int, TrackLoad], seed: int, n: int):
    """Baseline 20 rps, canary 5 rps, median 0.4 s: true p99 1.3 s, under ``max: 2.0``."""
    base = TrackLoad(rps=20, error_rate=0.005, latency_s=0.4)
    canary = TrackLoad(rps=5, error_rate=0.005, latency_s=0.4)
    fleet = Fleet(app="slow-app", deployment_id="slow", seed=seed)

    def loads(k: int) -> dict[str, TrackLoad]:
        return {"baseline": base, "canary": canary_at.get(k, canary)}

    return drive(canary_guard("slow", "slow-app"), fleet, loads, T0_MS + 5000, n, 2)


def test_a_p99_interpolated_past_the_max_inside_a_wide_bucket_is_not_a_rollback() -> None:
    """Bounds 1 and 2.5 s: PromQL's p99 reads about 2.1 s; the true p99 is 1.3 s."""
    assert of_type(_latency_watch({}, seed=11, n=720), "RollbackCommand") == []


def test_a_canary_slower_than_the_max_is_still_rolled_back_at_once() -> None:
    onset = 60
    slow = TrackLoad(rps=5, error_rate=0.005, latency_s=1.5)  # true p99 ~4.8 s
    rollbacks = of_type(
        _latency_watch({k: slow for k in range(onset, 240)}, seed=12, n=240), "RollbackCommand"
    )
    assert len(rollbacks) == 1 and "latency_p99" in rollbacks[0].reason
    delay_s = rollbacks[0].occurred_at.timestamp() - (T0_MS + 5000 + onset * 5000) / 1000
    assert 0 <= delay_s <= 120


def _rolling(after: TrackLoad, seed: int, minutes: int) -> list[object]:
    """An hour of app history at 5 rps and 0.5 % 5xx, then a rolling deploy (no baseline:
    judged against the learned level) whose pods behave as ``after``."""
    t0 = T0_MS + 3_600_000
    before = TrackLoad(rps=5, error_rate=0.005, pods=4)
    guard = rolling_guard("r1", "roll", before, seed, t_ms=t0)
    fleet = Fleet(app="roll", deployment_id="r1", seed=seed + 1)
    return drive(guard, fleet, {"stable": after}, t0 + 5000, minutes * 12, 2)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_healthy_quiet_rolling_deploy_is_not_rolled_back(seed: int) -> None:
    """Two hours. Before: the learned score alone (a p99 window that is unusual but not
    1.5 x the level) or 2 errors in 170 requests (1.2 % > 2 x the learned 0.5 %)."""
    same = TrackLoad(rps=5, error_rate=0.005, pods=4)
    assert of_type(_rolling(same, seed, 120), "RollbackCommand") == []


def test_twice_the_latency_on_a_quiet_rolling_deploy_is_rolled_back() -> None:
    slow = TrackLoad(rps=5, error_rate=0.005, latency_s=0.16, pods=4)
    rollbacks = of_type(_rolling(slow, 3, 20), "RollbackCommand")
    assert len(rollbacks) == 1 and rollbacks[0].evidence[0].rule == "max_ratio"
    assert "anomaly score" in rollbacks[0].evidence[0].detail  # effect size + significance


def test_ten_times_the_errors_on_a_quiet_rolling_deploy_is_rolled_back() -> None:
    bad = TrackLoad(rps=5, error_rate=0.05, pods=4)  # not over max 0.05: the relative rule
    rollbacks = of_type(_rolling(bad, 3, 20), "RollbackCommand")
    assert len(rollbacks) == 1 and rollbacks[0].evidence[0].rule == "max_ratio"
    assert "binomial p=" in rollbacks[0].evidence[0].detail
