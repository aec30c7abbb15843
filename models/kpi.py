"""KPI kinds: which series feed a KPI, and how a window of buckets becomes one value.

Each KPI reads one or more *columns* of a time-bucketed window (see models/windows):

==============  ==========================================  ===============================
kind            columns                                     value
==============  ==========================================  ===============================
ratio           0 = numerator increase, 1 = denominator      sum(num) / sum(den)
quantile        one per ``le`` bound (increase per bucket)    histogram quantile (Prometheus
                                                            linear interpolation)
gauge_avg       0 = sample values                            aggregate of bucket means
counter_rate    0 = counter increase                         increase / window seconds
custom          0 = sample values                            ``aggregate`` of bucket means
==============  ==========================================  ===============================

Counters (ratio, quantile, counter_rate) contribute increases between consecutive
samples of one series; a decrease is a counter reset (the new value is the increase).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from models.policy import KpiPolicy, Selector

COUNTER_KINDS = frozenset({"ratio", "quantile", "counter_rate"})


_Compiled = tuple[re.Pattern[str], tuple[tuple[str, re.Pattern[str]], ...]]


def _compile(sel: Selector | None) -> _Compiled:
    assert sel is not None
    return re.compile(sel.metric), tuple((k, re.compile(v)) for k, v in sel.match.items())


def _matches(sel: _Compiled, name: str, labels: dict[str, str]) -> bool:
    if not sel[0].fullmatch(name):
        return False
    return all(pat.fullmatch(labels.get(key, "")) for key, pat in sel[1])


def parse_le(text: str) -> float | None:
    """The upper bound of a histogram bucket label.

    >>> parse_le("+Inf"), parse_le("0.25"), parse_le("x")
    (inf, 0.25, None)
    """
    try:
        return float(text)
    except ValueError:
        return None


@dataclass
class CompiledKpi:
    """A KPI policy with its selectors compiled, and its routing of series to columns."""

    index: int
    policy: KpiPolicy

    def __post_init__(self) -> None:
        p = self.policy
        self.counter = p.kind in COUNTER_KINDS
        if p.kind == "ratio":
            self._sels = [_compile(p.numerator), _compile(p.denominator)]
        else:
            self._sels = [_compile(p.metric)]

    def columns(self, name: str, labels: dict[str, str]) -> list[float | int]:
        """Columns this series feeds: ints for fixed columns, the ``le`` float for quantile."""
        if self.policy.kind == "quantile":
            if "le" not in labels or not _matches(self._sels[0], name, labels):
                return []
            le = parse_le(labels["le"])
            return [] if le is None else [le]
        return [i for i, sel in enumerate(self._sels) if _matches(sel, name, labels)]


def hist_quantile(q: float, les: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Quantile per row of cumulative ``counts`` (rows × sorted ``les``), like PromQL.

    NaN where a row has no observations. The highest finite bound is returned when the
    quantile falls into the +Inf bucket.

    >>> les = np.array([0.1, 0.5, 1.0, np.inf])
    >>> hist_quantile(0.5, les, np.array([[0.0, 10.0, 10.0, 10.0]])).round(3).tolist()
    [0.3]
    >>> hist_quantile(0.99, les, np.array([[0.0, 0.0, 0.0, 5.0]])).tolist()
    [1.0]
    """
    counts = np.maximum.accumulate(np.atleast_2d(counts), axis=1)  # cumulative, monotone
    total = counts[:, -1]
    rank = q * total
    idx = np.argmax(counts >= rank[:, None], axis=1)
    finite = les[np.isfinite(les)]
    top = finite[-1] if finite.size else np.nan
    upper = les[idx]
    lower = np.where(idx > 0, les[np.maximum(idx - 1, 0)], 0.0)
    below = np.where(idx > 0, counts[np.arange(len(idx)), np.maximum(idx - 1, 0)], 0.0)
    inside = counts[np.arange(len(idx)), idx] - below
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(inside > 0, (rank - below) / inside, 1.0)
        out = lower + (upper - lower) * frac
    out = np.where(np.isinf(upper), top, out)
    return np.where(total > 0, out, np.nan)


@dataclass(frozen=True)
class KpiSample:
    """One KPI over one window of one track: value, per-bucket values, raw counts."""

    value: float | None
    samples: int
    points: np.ndarray  # per-bucket values (NaN dropped) for the canary judge
    num: float = 0.0  # ratio/counter: total numerator (events) in the window
    den: float = 0.0  # ratio: total denominator; counter: number of series-buckets
    num_points: np.ndarray | None = None  # ratio: per-bucket numerator
    den_points: np.ndarray | None = None  # ratio: per-bucket denominator


def _aggregate(points: np.ndarray, how: str, n_series: int) -> float | None:
    if points.size == 0:
        return None
    if how == "sum":
        return float(points.mean() * max(n_series, 1))
    if how == "max":
        return float(points.max())
    if how == "min":
        return float(points.min())
    if how == "last":
        return float(points[-1])
    return float(points.mean())


def evaluate(
    kpi: CompiledKpi,
    sums: np.ndarray,
    counts: np.ndarray,
    cols: list[float],
    window_s: float,
    res_s: float,
    n_series: int,
) -> KpiSample:
    """Compute a KPI from window rows (oldest → newest) of ``sums``/``counts`` per column."""
    p = kpi.policy
    empty = np.empty(0)
    if sums.shape[1] == 0:
        return KpiSample(None, 0, empty)
    if p.kind == "ratio":
        num, den = sums[:, 0], sums[:, 1] if sums.shape[1] > 1 else np.zeros(len(sums))
        samples = int(counts[:, 1].sum()) if counts.shape[1] > 1 else 0
        total_den = float(den.sum())
        value = float(num.sum()) / total_den if total_den > 0 else None
        with np.errstate(invalid="ignore", divide="ignore"):
            pts = np.where(den > 0, num / den, np.nan)
        return KpiSample(
            value,
            samples,
            pts[~np.isnan(pts)],
            float(num.sum()),
            total_den,
            num[den > 0],
            den[den > 0],
        )
    if p.kind == "quantile":
        les = np.asarray(cols, dtype=float)
        order = np.argsort(les)
        les, rows = les[order], sums[:, order]
        if not np.isinf(les[-1]):
            return KpiSample(None, 0, empty)
        samples = int(counts[:, order[-1]].sum())
        value = hist_quantile(p.quantile or 0.5, les, rows.sum(axis=0)[None, :])[0]
        pts = hist_quantile(p.quantile or 0.5, les, rows)
        return KpiSample(None if math.isnan(value) else float(value), samples, pts[~np.isnan(pts)])
    col_sums, col_counts = sums[:, 0], counts[:, 0]
    samples = int(col_counts.sum())
    if p.kind == "counter_rate":
        per = max(n_series, 1) if p.aggregate == "mean" else 1
        present = np.flatnonzero(col_counts > 0)
        span = (len(col_counts) - present[0]) * res_s if present.size else window_s
        value = float(col_sums.sum()) / span / per if samples else None
        pts = np.where(col_counts > 0, col_sums / res_s / per, np.nan)
        return KpiSample(
            value, samples, pts[~np.isnan(pts)], float(col_sums.sum()), float(max(n_series, 1))
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        pts = np.where(col_counts > 0, col_sums / col_counts, np.nan)
    kept = pts[~np.isnan(pts)]
    return KpiSample(_aggregate(kept, p.aggregate, n_series), samples, kept)
