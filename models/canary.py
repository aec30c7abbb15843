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
  is many errors in one bucket, which a Poisson test would wrongly call significant),
  or still significant with the canary's two worst buckets left out (which also
  holds for a canary on a tenth of the traffic, see ``_counts_test``).

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

The spread test on gauges (and quantiles given as plain values) keeps the textbook form (see
tests/kpi/test_canary_equivalence.py; its tolerance is the point estimate): a
tolerance null there drops bench-canary's variance-growth catch from 0.96 to 0.70.
Latency quantiles computed from histograms are not spread-tested at all: per-bucket
p99 jitter is mostly sampling noise (it rolled back healthy canaries, 1 in 50 two-hour
runs even at equal traffic), and "sometimes very slow" is better asked of the histogram
itself — the tail test (``models.canary_tail``): more requests beyond the baseline's
quantile bucket than the canary's exposure explains. Ratio spread is scaled by each
track's requests (``KpiSample.den``): a canary on a quarter of the traffic is twice
as jumpy by sampling alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.canary_tail import tail_test
from models.kpi import KpiSample
from models.rank_tests import (
    excess_share_p,
    mann_whitney_sorted,
    median_sorted,
    rate_ratio,
    worst_buckets,
)
from models.sequential import GRACE_S, spent_alpha

try:  # the screen in front of the judge (models/_win_judge.h); without it the judge runs
    from models._windows import judge_clear as _judge_clear
except ImportError:  # pragma: no cover - installs without a compiler
    _judge_clear = None


@dataclass(frozen=True)
class JudgeResult:
    """Outcome of the judge on one window: which test fired (if any), and how strongly."""

    breach: bool
    test: str = ""
    p_value: float = 1.0
    effect: float = 0.0
    detail: str = ""


_NO_BREACH = JudgeResult(False)  # frozen: one shared instance saves an init per healthy look
SCREEN = _judge_clear is not None  # False: always run the tests (the screen's reference)


def _sampling_noise(subject: KpiSample, reference: KpiSample) -> float:
    """How much noisier the subject's per-bucket values are from sampling alone.

    A canary taking 10% of the traffic sees a tenth of the requests per bucket, so
    its per-bucket error ratio varies ~sqrt(10) times more at the same true rate
    (sd ~ 1/sqrt(n) for a proportion). The spread test compares against the
    reference's variation scaled by that factor, so less traffic alone is never
    "variance growth". The judge scales ratio KPIs only (``den``: the requests);
    latency histograms take the tail test instead.

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
    quantile: float | None = None,
) -> JudgeResult:
    """Compare the subject (canary) window with the reference (baseline) window.

    ``age_s`` is the look's event-time age since watching started: the level
    ``alpha`` is spent by age after ``grace_s`` (at least the policy's ``judge_window``;
    see ``models.sequential``); None is a single fixed-sample look at the full level.
    ``quantile`` (a latency quantile KPI with its histogram) replaces the spread test
    by the tail test of ``models.canary_tail``.

    A native screen (``models/_win_judge.h``) first computes every test's effect size:
    when none could reach its tolerance, no test can fire and the no-breach result is
    returned at once. That is nearly every look at a healthy canary, which otherwise
    costs ~40 numpy calls; in doubt the screen says so and the tests run.
    """
    if SCREEN and _judge_clear(
        subject, reference, direction == "up", tolerance, floor, spread_ratio, min_points,
        counts, ratio_kpi, quantile,
    ):
        return _NO_BREACH
    x, y = subject.points, reference.points
    alpha = spent_alpha(alpha, age_s, grace_s)
    sign = 1.0 if direction == "up" else -1.0
    results: list[JudgeResult] = []
    enough = len(x) >= min_points and len(y) >= min_points
    if enough:
        xs, ys = x.copy(), y.copy()
        xs.sort()
        ys.sort()
        mx, my = median_sorted(xs), median_sorted(ys)
        rel = sign * (mx - my) / abs(my) if my else (math.inf if sign * (mx - my) > 0 else 0.0)
        # the rank test only runs when the effect size could make a breach: a healthy
        # canary (most windows) costs two sorts, and no p-value is ever reported unused
        if rel > tolerance and abs(mx - my) > floor:
            # sorted(-x) is -sorted(x) reversed: negation is exact
            up = (xs, ys) if sign > 0 else (-xs[::-1], -ys[::-1])
            p = mann_whitney_sorted(*up)
            if p < alpha:
                results.append(
                    JudgeResult(True, "shift", p, rel, f"median {mx:.4g} vs {my:.4g} (p={p:.2g})")
                )
    if quantile is not None and subject.hist is not None and reference.hist is not None:
        # a latency histogram: its tail test stands in for the spread test
        if direction == "up":
            hit, p, ratio, detail = tail_test(subject, reference, quantile, tolerance, alpha)
            if hit:
                results.append(JudgeResult(True, "tail", p, ratio, detail))
    elif enough:
        dx, dy = np.abs(x[1:] - x[:-1]), np.abs(y[1:] - y[:-1])  # np.diff, minus overhead
        dx.sort()
        dy.sort()
        noise = _sampling_noise(subject, reference) if ratio_kpi else 1.0
        sx, sy = median_sorted(dx), median_sorted(dy) * noise
        grow = rate_ratio(sx, sy)
        # ratio KPIs test the tolerance itself (H0: canary spread <= spread_ratio x the
        # noise-scaled reference), not equality: see the module docstring
        margin = spread_ratio * noise if ratio_kpi else 1.0
        if (
            (sy > 0 or not ratio_kpi)  # mostly-zero ratios: the counts test judges them
            and grow > spread_ratio
            and sx - sy > floor
            and (p := mann_whitney_sorted(dx, dy * margin if margin != 1.0 else dy)) < alpha
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
        counted = _counts_test(subject, reference, tolerance, floor, alpha)
        if counted is not None:
            results.append(counted)
    if not results:
        return _NO_BREACH
    return min(results, key=lambda r: r.p_value)


def _counts_test(
    subject: KpiSample, reference: KpiSample, tolerance: float, floor: float, alpha: float
) -> JudgeResult | None:
    """Sparse events: the canary's share of all events against its share of exposure.

    Real errors come in clumps (one incident = many errors in one scrape), which a
    binomial test alone would wrongly call significant. So the test must also hold in
    one of two forms: the events fall in more scrape buckets than the reference's, plus
    two; or — with per-bucket counts (ratio KPIs), whatever the canary's share of the
    traffic — with the canary's two worst buckets left out, events and exposure. (A
    canary on a tenth of the traffic has errors in fewer buckets than its baseline
    even at five times the rate; the second form still sees it.)
    """
    occ = int(np.count_nonzero(subject.points > 0))
    if occ < 3:
        return None
    forms = []
    if occ >= int(np.count_nonzero(reference.points > 0)) + 2:
        forms.append((subject.num, subject.den))
    nums, dens = subject.num_points, subject.den_points
    if nums is not None and dens is not None and len(nums) == len(dens) and len(nums) > 2:
        worst = worst_buckets(nums)
        left_out = float(nums[worst].sum()), float(dens[worst].sum())
        forms.append((subject.num - left_out[0], subject.den - left_out[1]))
    rate_b = reference.num / reference.den
    best: JudgeResult | None = None
    for num, den in forms:
        if den <= 0 or int(round(num)) < 3:
            continue
        rate_c = num / den
        ratio = rate_ratio(rate_c, rate_b)
        if ratio <= 1.0 + tolerance or rate_c - rate_b <= floor:
            continue  # a healthy canary stops here, before any p-value
        p = excess_share_p(num, den, reference.num, reference.den)
        if p < alpha and (best is None or p < best.p_value):
            share = den / (den + reference.den)
            detail = (
                f"{int(round(num))} vs {int(round(reference.num))} events at exposure share "
                f"{share:.2f} (p={p:.2g})"
            )
            best = JudgeResult(True, "counts", p, ratio, detail)
    return best
