"""The native screen in front of the canary judge never hides a breach.

``judge_clear`` (models/_win_judge.h) answers "no test can fire" from the tests' effect
sizes; the judge then skips its tests. The property: whenever the screen clears, the
judge's own tests find no breach, so the judge's results are the same with and without
the screen. The inputs sit near every test's thresholds (a canary scaled by factors
around the tolerance, ties, mostly-zero counts, equal histogram rows) and the level is
nearly 1, so an effect size over its threshold almost always becomes a breach: a screen
that clears one would show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import models.canary as canary
from models.canary import judge
from models.kpi import KpiSample

LES = np.array([0.05, 0.1, 0.25, 0.5, 1.0, np.inf])
Case = tuple[KpiSample, KpiSample, dict[str, object]]
FACTORS = st.sampled_from([0.0, 0.5, 0.9, 1.0, 1.1, 1.19, 1.2, 1.21, 1.25, 1.5, 2.0, 4.0])


@contextmanager
def screen(on: bool) -> Iterator[None]:
    before = canary.SCREEN
    canary.SCREEN = on
    try:
        yield
    finally:
        canary.SCREEN = before


def test_the_screen_is_built() -> None:
    assert canary._judge_clear is not None and canary.SCREEN


SPARSE = st.sampled_from([0, 0, 0, 0, 1, 1, 2, 3, 5, 8])
EXPOSURE = st.sampled_from([0, 10, 50, 100, 100, 500])


def _ratio(draw: st.DrawFn, n: int, rate: float, factor: float) -> KpiSample:
    """A ratio KPI window: per-bucket errors and requests, points = errors / requests.

    Sparse (a few errors in a few buckets, drawn apiece: the counts test's ground) or
    dense (the rate times the factor, give or take an error: shift and spread).
    """
    den = np.array([float(draw(EXPOSURE)) for _ in range(n)])
    if rate == 0.0:
        num = np.array([float(np.floor(draw(SPARSE) * factor)) for _ in range(n)])
    else:
        num = np.array([float(np.floor(d * rate * factor)) + draw(st.integers(-1, 1)) for d in den])
    num = np.clip(num, 0.0, den)
    pts = (num / np.where(den > 0, den, 1.0))[den > 0]
    return KpiSample(float(num.sum() / den.sum()) if den.sum() else None, n, pts,
                     float(num.sum()), float(den.sum()), num, den)


def _gauge(draw: st.DrawFn, n: int, base: np.ndarray, factor: float) -> KpiSample:
    """Plain per-bucket values: the baseline's, scaled and optionally spread out."""
    widen = draw(st.sampled_from([1.0, 1.0, 1.5, 2.0]))
    pts = base[:n] * factor + (base[:n] - base.mean()) * (widen - 1.0)
    return KpiSample(float(pts.mean()) if n else None, n, pts)


def _hist(draw: st.DrawFn, n: int, slow: float, reps: list[int]) -> KpiSample:
    """Cumulative histogram rows: ~``slow`` of each bucket's requests above 0.25 s.

    ``slow`` 0: a few slow requests per bucket, drawn apiece (the tail test's ground).
    """
    rows = []
    for i in range(n):
        total = float(draw(st.sampled_from([0, 100, 100, 500])))
        extra = draw(SPARSE) if slow == 0.0 else reps[i % len(reps)]
        s = min(float(np.floor(total * slow)) + (extra if total else 0.0), total)
        fast = total - s
        rows.append([fast * 0.5, fast * 0.9, fast, fast + s * 0.5, fast + s * 0.9, total])
    hist = np.array(rows).reshape(n, len(LES))
    pts = hist[:, 2] / np.maximum(hist[:, -1], 1.0)
    return KpiSample(0.2, n, pts, bounds=LES, hist=hist)


@st.composite
def windows(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(["ratio", "gauge", "quantile"]))
    n_s, n_r = draw(st.integers(0, 30)), draw(st.integers(0, 30))
    factor = draw(FACTORS)
    if kind == "ratio":
        rate = draw(st.sampled_from([0.0, 0.0, 0.02, 0.2]))
        subj, ref = _ratio(draw, n_s, rate, factor), _ratio(draw, n_r, rate, 1.0)
    elif kind == "gauge":
        scale = draw(st.sampled_from([1.0, 1e-3]))
        values = st.one_of(st.integers(0, 6).map(float), st.floats(0.0, 10.0))
        base = np.array(draw(st.lists(values, min_size=30, max_size=30))) * scale
        subj, ref = _gauge(draw, n_s, base, factor), _gauge(draw, n_r, base, 1.0)
    else:
        reps = draw(st.lists(st.integers(0, 20), min_size=1, max_size=4))
        slow = draw(st.sampled_from([0.0, 0.0, 0.01, 0.05]))
        subj, ref = _hist(draw, n_s, slow * factor, reps), _hist(draw, n_r, slow, [0])
    kw: dict[str, object] = {
        "direction": draw(st.sampled_from(["up", "up", "down"])),
        "tolerance": draw(st.sampled_from([0.0, 0.1, 0.2, 0.5])),
        "floor": draw(st.sampled_from([0.0, 0.0, 1e-3, 0.1])),
        "spread_ratio": draw(st.sampled_from([1.0, 1.5])),
        "min_points": draw(st.sampled_from([2, 6])),
        "counts": draw(st.booleans()),
        "ratio_kpi": kind == "ratio",
        "quantile": draw(st.sampled_from([0.5, 0.99])) if kind == "quantile" else None,
        "alpha": 0.999,  # nearly every effect size over its threshold is a breach
    }
    return subj, ref, kw


@settings(max_examples=1500, deadline=None)
@given(windows())
def test_a_clear_screen_means_the_judge_finds_no_breach(case: Case) -> None:
    subj, ref, kw = case
    with screen(False):
        full = judge(subj, ref, **kw)  # type: ignore[arg-type]
    with screen(True):
        screened = judge(subj, ref, **kw)  # type: ignore[arg-type]
    assert screened == full


def test_the_screen_clears_a_healthy_canary_and_not_a_regressed_one() -> None:
    """The point of the screen: a healthy look costs one call; a regression still runs."""
    rng = np.random.default_rng(3)
    base = 0.05 + rng.random(60) * 0.01
    ok = KpiSample(0.05, 60, base + rng.random(60) * 0.001)
    slow = KpiSample(0.1, 60, base * 2.0)
    ref = KpiSample(0.05, 60, base)
    args = (True, 0.2, 0.0, 1.5, 6, True, False, None)
    assert canary._judge_clear(ok, ref, *args)
    assert not canary._judge_clear(slow, ref, *args)
    assert judge(slow, ref).breach


def test_the_screen_runs_the_judge_when_in_doubt() -> None:
    """NaN points and arrays it cannot read in place go to the judge's own tests."""
    pts = np.linspace(1.0, 2.0, 12)
    nan = pts.copy()
    nan[3] = np.nan
    strided = np.repeat(pts, 2)[::2]
    args = (True, 0.2, 0.0, 1.5, 6, True, False, None)
    ref = KpiSample(1.5, 12, pts)
    assert canary._judge_clear(KpiSample(1.5, 12, pts.copy()), ref, *args)
    assert not canary._judge_clear(KpiSample(1.5, 12, nan), ref, *args)
    assert not canary._judge_clear(KpiSample(1.5, 12, strided), ref, *args)


def _counts_exactly_at_the_bounds() -> Case:
    """Three events in three buckets (the reference's one plus two) at 1.05 x its rate."""
    num = np.array([1.0, 1.0, 1.0] + [0.0] * 7)
    ref_num = np.array([2.0] + [0.0] * 9)
    subj = KpiSample(0.003, 10, num / 100.0, 3.0, 1000.0)
    ref = KpiSample(2 / 700, 10, ref_num / 70.0, 2.0, 700.0)
    return subj, ref, {"tolerance": 0.0, "counts": True, "ratio_kpi": True}


def _counts_with_tied_worst_buckets() -> Case:
    """Three buckets tie for the two worst: argsort's pick decides the exposure left out.

    The picked pair holds most of the exposure, the third tied bucket little; only with
    the picked pair's exposure left out is the remaining rate over the reference's.
    """
    num = np.array([2.0, 2.0, 2.0, 1.0, 1.0, 1.0] + [0.0] * 8)
    den = np.full(14, 10.0)
    den[3:6] = 100.0
    den[np.argsort(num)[-2:]] = 900.0  # the pair argsort picks; the third stays at 10
    subj = KpiSample(None, 14, num / den, float(num.sum()), float(den.sum()), num, den)
    ref = KpiSample(0.005, 10, np.full(10, 0.005), 10.0, 2000.0)
    return subj, ref, {"tolerance": 0.0, "counts": True, "ratio_kpi": True}


def _tail_just_over_the_baseline() -> Case:
    """Slow-request share 50.2 % against 49 %: a rate ratio of 1.0245, tolerance 0."""
    les = np.array([0.1, 0.5, np.inf])
    subj = KpiSample(0.1, 10, np.zeros(10), bounds=les, hist=np.tile([498.0, 1e3, 1e3], (10, 1)))
    ref = KpiSample(0.1, 10, np.zeros(10), bounds=les, hist=np.tile([510.0, 1e3, 1e3], (10, 1)))
    return subj, ref, {"tolerance": 0.0, "counts": False, "quantile": 0.5}


@pytest.mark.parametrize(
    ("case", "test"),
    [
        (_counts_exactly_at_the_bounds, "counts"),
        (_counts_with_tied_worst_buckets, "counts"),
        (_tail_just_over_the_baseline, "tail"),
    ],
)
def test_the_screen_passes_a_breach_on_its_thresholds(
    case: Callable[[], Case], test: str
) -> None:
    """Each case sits on a threshold of the screen: a screen a step off would clear it."""
    subj, ref, kw = case()
    with screen(False):
        full = judge(subj, ref, alpha=0.999, **kw)  # type: ignore[arg-type]
    with screen(True):
        screened = judge(subj, ref, alpha=0.999, **kw)  # type: ignore[arg-type]
    assert full.breach and full.test == test
    assert screened == full
