"""Threshold rules of one KPI window: absolute, and relative to a baseline value.

Kept apart from the verdict's state machine (``models.verdict``). A rule is a
``Check``: (breach, rule name, threshold, detail). For counted KPIs (ratios of event
counts, histogram quantiles) a value past a threshold is a breach only when the
window's counts rule out chance (``count_confidence``): quiet services' windows swing
far past thresholds by chance, and a wide histogram bucket's interpolated quantile is
a guess.
"""

from __future__ import annotations

from models.kpi import KpiSample
from models.policy import KpiPolicy
from models.rank_tests import quantile_beyond_p, ratio_beyond_p

Check = tuple[bool, str, float | None, str]  # (breach, rule, threshold, detail)


def _bad(value: float, limit: float, direction: str) -> bool:
    return value > limit if direction == "up" else value < limit


def relative_checks(
    kpi: KpiPolicy,
    subj: KpiSample,
    v: float,
    base: float,
    score: float | None = None,
    threshold: float = 1.0,
) -> list[Check]:
    """Thresholds relative to a baseline value (another track, or the learned level).

    On a ratio of counts the window must also rule out chance against the relative
    limit: a rolling deploy on 5 requests per second at its usual 0.5 % 5xx shows 2
    errors in 170 requests (1.2 %, over 2 x 0.5 %) often enough to sustain it. For
    other kinds against the *learned* level (``score`` given: no baseline track), the
    rule sets the effect size and the learned anomaly score the significance, as the
    judge does for a canary: both must hold (a quiet service's p99 swings by chance).
    """
    out: list[Check] = []
    above_floor = v > kpi.relative_floor if kpi.direction == "up" else base > kpi.relative_floor
    rules = []
    if kpi.max_ratio is not None:
        rules.append(("max_ratio", base * kpi.max_ratio, "up", f"> {kpi.max_ratio:g} x"))
    if kpi.min_ratio is not None:
        rules.append(("min_ratio", base * kpi.min_ratio, "down", f"< {kpi.min_ratio:g} x"))
    for rule, lim, way, says in rules:
        bad = (v > lim if way == "up" else v < lim) and above_floor
        detail = f"{v:.4g} {says} baseline {base:.4g}"
        if bad and kpi.kind == "ratio":
            bad, detail = _counted(kpi, subj, lim, way, detail)
        out.append((bad, rule, lim, detail))
    if kpi.max_delta is not None:
        lim = base + kpi.max_delta if kpi.direction == "up" else base - kpi.max_delta
        detail = f"{v:.4g} beyond baseline {base:.4g} by more than {kpi.max_delta:g}"
        bad = _bad(v, lim, kpi.direction)
        if bad and kpi.kind == "ratio":
            bad, detail = _counted(kpi, subj, lim, kpi.direction, detail)
        out.append((bad, "max_delta", lim, detail))
    if score is not None:
        out = [_learned(kpi, subj, c, score, threshold) for c in out]
    return out


def _learned(kpi: KpiPolicy, subj: KpiSample, check: Check, score: float, threshold: float
             ) -> Check:
    """A relative check against the learned level, with its significance.

    The learned score must reach ``threshold``; for a histogram quantile, more than
    ``1 - q`` of the window's requests must also lie above the highest bucket bound
    below the limit (binomial at ``count_confidence``): on a quiet service a few slow
    requests move an interpolated p99 across a wide bucket, which the learned score
    (fitted to levels, not to counts) takes for an extreme value.
    """
    bad, rule, lim, detail = check
    detail = f"{detail}; anomaly score {score:.4f}"
    bad = bad and score >= threshold
    if bad and lim is not None and kpi.kind == "quantile" and subj.bounds is not None:
        below = subj.bounds[subj.bounds < lim]
        if kpi.direction == "up" and below.size:
            bad, detail = _counted(kpi, subj, float(below[-1]), "up", detail)
    return bad, rule, lim, detail


def _counted(kpi: KpiPolicy, subj: KpiSample, limit: float, way: str, detail: str
             ) -> tuple[bool, str]:
    """Whether the window's counts put a ratio or histogram quantile beyond ``limit``.

    Called once the value is beyond it: True when chance is ruled out at
    ``count_confidence`` (or when the KPI has no counts, or the test is off).
    """
    if kpi.count_confidence <= 0:
        return True, detail
    level = 1.0 - kpi.count_confidence
    if kpi.kind == "ratio":
        p = ratio_beyond_p(subj.num, subj.den, limit, way)
        return p < level, f"{detail} ({subj.num:.0f} of {subj.den:.0f}, binomial p={p:.2g})"
    if subj.hist is not None and subj.hist.size and subj.bounds is not None:
        cum = subj.hist.sum(axis=0)
        p = quantile_beyond_p(subj.bounds, cum, kpi.quantile or 0.5, limit, way)
        return p < level, f"{detail} (of {cum[-1]:.0f} requests, bound test p={p:.2g})"
    return True, detail


def absolute_checks(kpi: KpiPolicy, subj: KpiSample, v: float) -> list[Check]:
    """``max``/``min`` checks; for ratios and histograms, the counts must rule out chance.

    A canary on a few requests per second sees 4 errors in 60 requests (6.7 %) at a true
    3 % often enough to sustain a breach of ``max: 0.05`` over hours; the binomial test
    at ``count_confidence`` fires on 30 of 60 at once, and at high traffic barely moves
    the threshold (6,000 requests: about 6 % at 0.9999). A histogram quantile breaches
    only when enough requests lie beyond the bucket bound at or past the threshold (see
    ``quantile_beyond_p``), not on interpolation inside a wide bucket.
    """
    out: list[Check] = []
    for limit, rule, way in ((kpi.max, "max", "up"), (kpi.min, "min", "down")):
        if limit is None:
            continue
        bad = v > limit if way == "up" else v < limit
        detail = f"{v:.4g} {'>' if way == 'up' else '<'} {rule} {limit:.4g}"
        if bad:
            bad, detail = _counted(kpi, subj, limit, way, detail)
        out.append((bad, rule, limit, detail))
    return out
