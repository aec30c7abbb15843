"""Canary-vs-baseline judge: three one-sided tests on the same window of both tracks.

Kayenta's judge runs a Mann-Whitney U test per metric and reports a shift of the
median. It is documented to miss two regressions that matter in production:

* **variance growth at an equal median** (a version that is sometimes very slow):
  the rank test sees the same centre. We test the *spread* — the absolute
  successive differences of each track (local variability, robust to the slow drifts
  both tracks share) with a rank test — and require the canary's median variation to
  grow by ``spread_ratio``.
* **sparse, mostly-zero error counts**: with most buckets at 0 both tracks tie and the
  rank test has no power. We test the *counts* directly: given k errors in total, the
  canary's share under "same rate" is Binomial(k, exposure share); a small upper tail
  probability with a rate ratio above ``1 + tolerance`` is a breach — if the errors
  are spread over several scrape buckets (real errors come in clumps: one incident
  is many errors in one bucket, which a Poisson test would wrongly call significant).

Plus the classic **shift** test (Mann-Whitney, one-sided in the bad direction) with an
effect-size tolerance, so small but significant differences do not roll back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.kpi import KpiSample


@dataclass(frozen=True)
class JudgeResult:
    """Outcome of the judge on one window: which test fired (if any), and how strongly."""

    breach: bool
    test: str = ""
    p_value: float = 1.0
    effect: float = 0.0
    detail: str = ""


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_greater(x: np.ndarray, y: np.ndarray) -> float:
    """One-sided p-value that ``x`` tends to be larger than ``y`` (normal approx, ties).

    >>> round(mann_whitney_greater(np.arange(10, 20.0), np.arange(0, 10.0)), 4)
    0.0001
    >>> mann_whitney_greater(np.zeros(5), np.zeros(5))
    1.0
    """
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return 1.0
    both = np.concatenate([x, y])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    sorted_vals = both[order]
    _, start, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    tie = float((counts**3 - counts).sum())
    var = n1 * n2 / 12.0 * ((n + 1) - tie / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:
        return 1.0
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(var)
    return _norm_sf(z)


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact in log space (normal approx for huge n).

    >>> round(binom_sf(8, 10, 0.5), 4)
    0.0547
    >>> binom_sf(0, 5, 0.3)
    1.0
    """
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    if n > 20_000:
        mu, sd = n * p, math.sqrt(n * p * (1 - p))
        return _norm_sf((k - 0.5 - mu) / sd)
    i = np.arange(k, n + 1, dtype=float)
    logs = (
        math.lgamma(n + 1)
        - np.vectorize(math.lgamma)(i + 1)
        - np.vectorize(math.lgamma)(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )
    top = logs.max()
    return float(min(1.0, math.exp(top) * np.exp(logs - top).sum()))


def judge(
    subject: KpiSample,
    reference: KpiSample,
    *,
    direction: str = "up",
    alpha: float = 0.001,
    tolerance: float = 0.2,
    floor: float = 0.0,
    spread_ratio: float = 1.5,
    min_points: int = 6,
    counts: bool = True,
) -> JudgeResult:
    """Compare the subject (canary) window with the reference (baseline) window."""
    x, y = subject.points, reference.points
    sign = 1.0 if direction == "up" else -1.0
    results: list[JudgeResult] = []
    if len(x) >= min_points and len(y) >= min_points:
        mx, my = float(np.median(x)), float(np.median(y))
        p = mann_whitney_greater(sign * x, sign * y)
        rel = sign * (mx - my) / abs(my) if my else (math.inf if sign * (mx - my) > 0 else 0.0)
        if p < alpha and rel > tolerance and abs(mx - my) > floor:
            results.append(
                JudgeResult(True, "shift", p, rel, f"median {mx:.4g} vs {my:.4g} (p={p:.2g})")
            )
        dx, dy = np.abs(np.diff(x)), np.abs(np.diff(y))
        p = mann_whitney_greater(dx, dy)
        sx, sy = float(np.median(dx)), float(np.median(dy))
        grow = sx / sy if sy > 0 else (math.inf if sx > 0 else 1.0)
        if p < alpha and grow > spread_ratio and sx - sy > floor:
            results.append(
                JudgeResult(
                    True,
                    "spread",
                    p,
                    grow,
                    f"step-to-step variation {sx:.4g} vs {sy:.4g} (p={p:.2g})",
                )
            )
    if counts and direction == "up" and subject.den > 0 and reference.den > 0:
        kc, kb = int(round(subject.num)), int(round(reference.num))
        share = subject.den / (subject.den + reference.den)
        rate_c, rate_b = subject.num / subject.den, reference.num / reference.den
        ratio = rate_c / rate_b if rate_b > 0 else (math.inf if rate_c > 0 else 1.0)
        # clumped real errors (one incident = many errors in one scrape) are not Poisson:
        # also require errors in several buckets, more of them than on the baseline
        occ_c, occ_b = int((subject.points > 0).sum()), int((reference.points > 0).sum())
        if kc >= 3 and ratio > 1.0 + tolerance and occ_c >= 3 and occ_c >= occ_b + 2:
            p = binom_sf(kc, kc + kb, share)
            if p < alpha:
                results.append(
                    JudgeResult(
                        True,
                        "counts",
                        p,
                        ratio,
                        f"{kc} vs {kb} events at exposure share {share:.2f} (p={p:.2g})",
                    )
                )
    if not results:
        return JudgeResult(False)
    return min(results, key=lambda r: r.p_value)
