"""The judge's tail test for latency histograms: more requests beyond the baseline's tail.

A version that is *sometimes* very slow (stalls in a quarter of the scrapes, a slow
dependency on some requests) leaves the median of per-bucket p99 values where it was,
so a rank test on them misses it; and the jitter of a per-bucket p99 estimated from a
few hundred requests in a coarse histogram is mostly sampling noise, so a spread test
on it rolls back healthy canaries. The histogram itself answers the question directly:

* take the bound ``L`` of the bucket holding the baseline's quantile ``q`` over the span;
* count requests above ``L`` on each track (``k_c``, ``k_b``) and the requests each
  track served (exposure);
* under "same latency distribution" the canary's share of the ``k_c + k_b`` slow
  requests is Binomial(k, exposure share): a tiny upper tail is a breach when the
  canary's slow-request rate is also beyond the tolerance ratio and beyond ``1 - q``
  (its own q-quantile has moved past ``L``) — all with the canary's two worst scrape
  buckets left out (one or two stalls are incidents, not a version).
"""

from __future__ import annotations

import numpy as np

from models.kpi import KpiSample
from models.rank_tests import excess_share_p, rate_ratio, worst_buckets

MIN_BUCKETS = 3  # slow requests must remain once the MIN_BUCKETS - 1 worst buckets go


def _above(hist: np.ndarray, idx: int) -> np.ndarray:
    """Per scrape bucket: observations above bound ``idx`` (total minus count <= bound)."""
    return np.maximum(hist[:, -1] - hist[:, idx], 0.0)


def tail_test(
    subject: KpiSample, reference: KpiSample, q: float, tolerance: float, alpha: float
) -> tuple[bool, float, float, str]:
    """(breach, p-value, rate ratio, detail) of the canary's share of slow requests.

    >>> les = np.array([0.1, 0.5, np.inf])
    >>> ok = [95.0, 99.5, 100.0]  # per scrape bucket: 100 requests, 0.5 above 0.5 s
    >>> ref, stall = np.array([ok] * 12), np.array([ok] * 10 + [[20.0, 40.0, 100.0]] * 2)
    >>> bursts = np.array([ok] * 8 + [[20.0, 40.0, 100.0]] * 4)
    >>> def s(h): return KpiSample(0.1, 12, np.zeros(12), bounds=les, hist=h)
    >>> [tail_test(s(h), s(ref), 0.99, 0.5, 1e-4)[0] for h in (bursts, stall, ref)]
    [True, False, False]
    """
    hs, hr, les = subject.hist, reference.hist, reference.bounds
    if hs is None or hr is None or les is None or subject.bounds is None:
        return False, 1.0, 1.0, ""
    if hs.shape[1] != hr.shape[1] or not np.array_equal(subject.bounds, les):
        return False, 1.0, 1.0, ""
    cum_r = hr.sum(axis=0)
    total_r, total_s = float(cum_r[-1]), float(hs[:, -1].sum())
    if total_r <= 0 or total_s <= 0:
        return False, 1.0, 1.0, ""
    idx = int(np.argmax(cum_r >= q * total_r))
    if idx >= len(les) - 1:  # the baseline's quantile is in the +Inf bucket: no bound
        return False, 1.0, 1.0, ""
    above_s, above_r = _above(hs, idx), _above(hr, idx)
    # robust to incidents: the canary's MIN_BUCKETS - 1 worst scrape buckets are left out
    worst = worst_buckets(above_s, MIN_BUCKETS - 1)
    kc = float(above_s.sum() - above_s[worst].sum())
    total_s -= float(hs[worst, -1].sum())
    kb = float(above_r.sum())
    if total_s <= 0:
        return False, 1.0, 1.0, ""
    rate_s, rate_r = kc / total_s, kb / total_r
    ratio = rate_ratio(rate_s, rate_r)
    if not (ratio > 1.0 + tolerance and rate_s > 1.0 - q):
        return False, 1.0, ratio, ""
    p = excess_share_p(kc, total_s, kb, total_r)
    detail = (
        f"{rate_s:.2%} of requests above {les[idx]:g} s vs {rate_r:.2%} on the baseline "
        f"(p={p:.2g}, worst {MIN_BUCKETS - 1} buckets left out)"
    )
    return p < alpha, p, ratio, detail
