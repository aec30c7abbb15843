"""The judge's fast paths give bit-identical results to the plain rank-sum formulation.

The judge sorts each window once and computes U with ``searchsorted`` and the tie
correction from run lengths instead of ``np.unique``; the verdict skips a longer span
that adds no bucket. Decisions must not move by a single float, so the oracle here is
the textbook form (``np.median``, ``np.diff``, ``mann_whitney_greater``) and equality is
exact, on values drawn from a small grid so ties, zeros and equal medians are common.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.canary import judge
from models.kpi import KpiSample
from models.policy import AppPolicy, KpiPolicy
from models.rank_tests import mann_whitney_greater, mann_whitney_sorted, median_sorted
from models.verdict import assess

GRID = st.sampled_from([0.0, 0.0, 0.5, 1.0, 1.0, 2.0, 3.25, 7.0, 100.0, 1e-3])
VALUES = st.one_of(GRID, st.floats(-1e6, 1e6, allow_nan=False))
ARRAYS = st.lists(VALUES, min_size=0, max_size=40).map(lambda v: np.array(v, dtype=float))


def _reference_judge(
    x: np.ndarray, y: np.ndarray, *, direction: str, alpha: float, tolerance: float
) -> tuple[bool, float]:
    """Shift and spread tests the way they read on paper (no counts: no ``den`` here)."""
    sign = 1.0 if direction == "up" else -1.0
    found: list[float] = []
    if len(x) >= 6 and len(y) >= 6:
        mx, my = float(np.median(x)), float(np.median(y))
        p = mann_whitney_greater(sign * x, sign * y)
        rel = sign * (mx - my) / abs(my) if my else (math.inf if sign * (mx - my) > 0 else 0.0)
        if p < alpha and rel > tolerance and abs(mx - my) > 0.0:
            found.append(p)
        dx, dy = np.abs(np.diff(x)), np.abs(np.diff(y))
        p = mann_whitney_greater(dx, dy)
        sx, sy = float(np.median(dx)), float(np.median(dy))
        grow = sx / sy if sy > 0 else (math.inf if sx > 0 else 1.0)
        if p < alpha and grow > 1.5 and sx - sy > 0.0:
            found.append(p)
    return (bool(found), min(found) if found else 1.0)


@settings(max_examples=300, deadline=None)
@given(ARRAYS, ARRAYS)
def test_sorted_rank_sum_equals_unique_rank_sum_bit_for_bit(x: np.ndarray, y: np.ndarray) -> None:
    assert mann_whitney_sorted(np.sort(x), np.sort(y)) == mann_whitney_greater(x, y)


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=41).map(lambda v: np.array(v, dtype=float)))
def test_median_of_sorted_equals_numpy_median(x: np.ndarray) -> None:
    assert median_sorted(np.sort(x)) == float(np.median(x))


def test_nan_input_falls_back_to_the_rank_sum_form() -> None:
    x, y = np.array([1.0, np.nan, 3.0]), np.array([np.nan, 0.5, 2.0])
    xs, ys = np.sort(x), np.sort(y)
    assert mann_whitney_sorted(xs, ys) == mann_whitney_greater(xs, ys)
    assert math.isnan(median_sorted(np.sort(x)))


@settings(max_examples=300, deadline=None)
@given(ARRAYS, ARRAYS, st.sampled_from(["up", "down"]), st.sampled_from([0.5, 0.05, 0.001]))
def test_judge_decides_like_the_textbook_tests(
    x: np.ndarray, y: np.ndarray, direction: str, alpha: float
) -> None:
    got = judge(
        KpiSample(None, len(x), x),
        KpiSample(None, len(y), y),
        direction=direction,
        alpha=alpha,
        tolerance=0.2,
        counts=False,
    )
    assert (got.breach, got.p_value) == _reference_judge(
        x, y, direction=direction, alpha=alpha, tolerance=0.2
    )


def test_a_longer_span_with_no_new_bucket_is_judged_the_same() -> None:
    """Repeated spans (a young deployment) reuse the shorter span's result, same verdict."""
    rng = np.random.default_rng(5)
    base = rng.normal(10.0, 1.0, 30)
    slow = rng.normal(14.0, 1.0, 30)
    kp = KpiPolicy(
        name="cpu", kind="gauge_avg", metric={"metric": "cpu"}, judge=True, max_ratio=1.2
    )
    pol = AppPolicy(kpis=[kp])
    subj, ref = KpiSample(14.0, 30, slow), KpiSample(10.0, 30, base)
    one = assess(kp, pol, "canary", subj, ref, None, [(subj, ref)])
    again = KpiSample(14.0, 30, slow.copy())
    many = assess(kp, pol, "canary", subj, ref, None, [(subj, ref), (again, ref), (again, ref)])
    assert one == many
    assert one.status == "breach" and one.rule.startswith("judge:")
