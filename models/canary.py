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

**Many looks at a healthy canary.** The judge runs at every tick, on nested spans,
for the deployment's whole life; a five-hour canary is looked at 1,800 times. Each
look at level ``alpha`` is a fresh chance of a false breach, and long spans make
chance excursions persist long enough to be "sustained". Two things keep a healthy
canary from being rolled back however long it is watched:

* *tolerance nulls and absolute floors* — the question is "worse by more than the
  tolerance", not "different": an identical process then sits deep inside the null
  and its p-values stay far above ``alpha`` at every look. Per-bucket error *ratios*
  vary by sampling alone, and that noise differs between 0.49 % and 0.6 % (a 5-hour
  healthy run of identical tracks rolled 3 of 50 back on ``spread``, p ≈ 3e-5), so
  for ratio KPIs the spread test's null is the tolerance itself (canary variation
  ≤ ``spread_ratio`` × the noise-scaled reference, not "equal"); mostly-zero ratios
  (a zero median step) have no variation to compare and are left to the counts
  test; and the counts test needs the rate to grow by more than ``floor`` as well as
  by the ratio, so a statistically detectable but negligible rise does not roll back;
* *alpha spending by age* (``models.sequential``): given the look's event-time age,
  the level is spent so its sum over an unbounded life is bounded.

The spread test on gauges and quantiles keeps the textbook fixed-sample form (see
tests/kpi/test_canary_equivalence.py; its tolerance is the point estimate): a
tolerance null there drops bench-canary's variance-growth catch from 0.96 to 0.70.
Successive differences share a point, so its p-values are optimistic on lumpy series
(per-bucket p99 of a few hundred requests): over a long life it relies on the
spending, which needs the caller to pass ``age_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.kpi import KpiSample
from models.sequential import GRACE_S, spent_alpha


@dataclass(frozen=True)
class JudgeResult:
    """Outcome of the judge on one window: which test fired (if any), and how strongly."""

    breach: bool
    test: str = ""
    p_value: float = 1.0
    effect: float = 0.0
    detail: str = ""


_NO_BREACH = JudgeResult(False)  # frozen: one shared instance saves an init per healthy look


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


def _median_sorted(s: np.ndarray) -> float:
    """``np.median`` of an already sorted, NaN-free array (same float: mean of the middle pair).

    >>> _median_sorted(np.array([1.0, 2.0, 4.0, 8.0])), _median_sorted(np.array([3.0]))
    (3.0, 3.0)
    """
    n = len(s)
    if n == 0 or s[-1] != s[-1]:  # empty, or NaN (sorts last): np.median gives NaN too
        return math.nan
    m = n // 2
    return float(s[m]) if n % 2 else float((s[m - 1] + s[m]) / 2.0)


def _mw_sorted(xs: np.ndarray, ys: np.ndarray) -> float:
    """``mann_whitney_greater`` on sorted inputs without ``np.unique``: the judge's hot path.

    U counts pairs (x > y, plus half of x == y) with two ``searchsorted`` calls; the tie
    correction comes from run lengths of the merged sorted sample. U and the tie sum are
    (half-)integers, exact in float, so the p-value is bit-identical to the rank-sum form.
    NaN (which ``np.unique`` groups as one value) falls back to that form.

    >>> a, b = np.array([1.0, 2.0, 2.0, 5.0]), np.array([0.0, 2.0, 3.0])
    >>> _mw_sorted(a, b) == mann_whitney_greater(a, b)
    True
    """
    n1, n2 = len(xs), len(ys)
    if n1 == 0 or n2 == 0:
        return 1.0
    both = np.concatenate((xs, ys))
    both.sort()
    if both[-1] != both[-1]:  # NaN sorts last
        return mann_whitney_greater(xs, ys)
    lo, hi = int(ys.searchsorted(xs, "left").sum()), int(ys.searchsorted(xs, "right").sum())
    u = float(lo) + 0.5 * float(hi - lo)
    n = n1 + n2
    same = both[1:] == both[:-1]
    tie = 0.0
    if same.any():
        edges = np.flatnonzero(np.concatenate(([True], ~same, [True])))
        counts = np.diff(edges)
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


def _sampling_noise(subject: KpiSample, reference: KpiSample) -> float:
    """How much noisier the subject's per-bucket ratios are from sampling alone.

    A canary taking 10% of the traffic sees a tenth of the requests per bucket, so
    its per-bucket error ratio varies ~sqrt(10) times more at the same true rate
    (binomial sd ~ 1/sqrt(n)). The spread test compares against the reference's
    variation scaled by that factor, so less traffic alone is never "variance growth".

    >>> s = KpiSample(0.01, 6, np.zeros(6), num=1, den=60.0)
    >>> r = KpiSample(0.01, 6, np.zeros(6), num=5, den=540.0)
    >>> _sampling_noise(s, r), _sampling_noise(r, s)
    (3.0, 1.0)
    """
    if not len(subject.points) or not len(reference.points):
        return 1.0
    ms = subject.den / len(subject.points)
    mr = reference.den / len(reference.points)
    return math.sqrt(mr / ms) if ms > 0 and mr > ms else 1.0


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
    ratio_kpi: bool = False,
    age_s: float | None = None,
    grace_s: float = GRACE_S,
) -> JudgeResult:
    """Compare the subject (canary) window with the reference (baseline) window.

    ``age_s`` is the look's event-time age since watching started: the level
    ``alpha`` is spent by age after ``grace_s`` (at least the policy's ``judge_window``;
    see ``models.sequential``); None is a single fixed-sample look at the full level.
    """
    x, y = subject.points, reference.points
    alpha = spent_alpha(alpha, age_s, grace_s)
    sign = 1.0 if direction == "up" else -1.0
    results: list[JudgeResult] = []
    if len(x) >= min_points and len(y) >= min_points:
        xs, ys = x.copy(), y.copy()
        xs.sort()
        ys.sort()
        mx, my = _median_sorted(xs), _median_sorted(ys)
        rel = sign * (mx - my) / abs(my) if my else (math.inf if sign * (mx - my) > 0 else 0.0)
        # the rank test only runs when the effect size could make a breach: a healthy
        # canary (most windows) costs two sorts, and no p-value is ever reported unused
        if rel > tolerance and abs(mx - my) > floor:
            # sorted(-x) is -sorted(x) reversed: negation is exact
            p = _mw_sorted(xs, ys) if sign > 0 else _mw_sorted(-xs[::-1], -ys[::-1])
            if p < alpha:
                results.append(
                    JudgeResult(True, "shift", p, rel, f"median {mx:.4g} vs {my:.4g} (p={p:.2g})")
                )
        dx, dy = np.abs(x[1:] - x[:-1]), np.abs(y[1:] - y[:-1])  # np.diff, minus overhead
        dx.sort()
        dy.sort()
        noise = _sampling_noise(subject, reference) if ratio_kpi else 1.0
        sx, sy = _median_sorted(dx), _median_sorted(dy) * noise
        grow = sx / sy if sy > 0 else (math.inf if sx > 0 else 1.0)
        # ratio KPIs test the tolerance itself (H0: canary spread <= spread_ratio x the
        # noise-scaled reference), not equality: see the module docstring
        margin = spread_ratio * noise if ratio_kpi else 1.0
        if (
            (sy > 0 or not ratio_kpi)  # mostly-zero ratios: the counts test judges them
            and grow > spread_ratio
            and sx - sy > floor
            and (p := _mw_sorted(dx, dy * margin if margin != 1.0 else dy)) < alpha
        ):
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
        # (counted only for a candidate: a healthy canary stops at the rate checks)
        if (
            kc >= 3
            and ratio > 1.0 + tolerance
            and rate_c - rate_b > floor
            and (occ_c := int((subject.points > 0).sum())) >= 3
            and occ_c >= int((reference.points > 0).sum()) + 2
        ):
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
        return _NO_BREACH
    return min(results, key=lambda r: r.p_value)
