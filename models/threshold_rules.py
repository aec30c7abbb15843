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
    above_floor = v > kpi.relative_floor if kpi.direction == "up" else base > kpi.relative_floor
    rules: list[tuple[str, float, str, bool, str]] = []  # rule, limit, bad way, floored, says
    if kpi.max_ratio is not None:
        says = f"{v:.4g} > {kpi.max_ratio:g} x baseline {base:.4g}"
        rules.append(("max_ratio", base * kpi.max_ratio, "up", True, says))
    if kpi.min_ratio is not None:
        says = f"{v:.4g} < {kpi.min_ratio:g} x baseline {base:.4g}"
        rules.append(("min_ratio", base * kpi.min_ratio, "down", True, says))
    if kpi.max_delta is not None:
        lim = base + kpi.max_delta if kpi.direction == "up" else base - kpi.max_delta
        says = f"{v:.4g} beyond baseline {base:.4g} by more than {kpi.max_delta:g}"
        rules.append(("max_delta", lim, kpi.direction, False, says))
    counted = kpi.kind == "ratio" and kpi.count_confidence > 0  # counts are the significance
    out: list[Check] = []
    for rule, lim, way, floored, detail in rules:
        bad = _bad(v, lim, way) and (above_floor or not floored)
        if bad and counted:
            bad, detail = _counted(kpi, subj, lim, way, detail)
        elif bad and score is not None:
            bad, detail = _learned(kpi, subj, lim, detail, score, threshold)
        out.append((bad, rule, lim, detail))
    return out


def _learned(
    kpi: KpiPolicy, subj: KpiSample, limit: float, detail: str, score: float, threshold: float
) -> tuple[bool, str]:
    """Significance of a value past a limit relative to the learned level.

    The learned score must reach ``threshold``; for a histogram quantile, more than
    ``1 - q`` of the window's requests must also lie above the highest bucket bound
    below the limit (binomial at ``count_confidence``): on a quiet service a few slow
    requests move an interpolated p99 across a wide bucket, which the learned score
    (fitted to levels, not to counts) takes for an extreme value.
    """
    detail = f"{detail}; anomaly score {score:.4f}"
    if score < threshold:
        return False, detail
    if kpi.kind == "quantile" and kpi.direction == "up" and subj.bounds is not None:
        below = subj.bounds[subj.bounds < limit]
        if below.size:
            return _counted(kpi, subj, float(below[-1]), "up", detail)
    return True, detail


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
        bad = _bad(v, limit, way)
        detail = f"{v:.4g} {'>' if way == 'up' else '<'} {rule} {limit:.4g}"
        if bad:
            bad, detail = _counted(kpi, subj, limit, way, detail)
        out.append((bad, rule, limit, detail))
    return out


def hold_shared(
    kpi: KpiPolicy, checks: list[Check], ref: KpiSample
) -> tuple[list[Check], list[str]]:
    """Clear the subject's ``max``/``min`` breaches that the reference track shows too.

    For ``shared_breach: hold``: when baseline and canary both break the same absolute
    rule, a shared cause (a dependency outage) is likelier than the new version, and a
    rollback would not help. Returns the checks with those breaches cleared, and what
    was held (the canary-vs-baseline judge still runs and still rolls back a canary
    that is worse than its baseline).

    >>> import numpy as np
    >>> kpi = KpiPolicy(name="e", kind="ratio", numerator={"metric": "r"},
    ...                 denominator={"metric": "r"}, max=0.05, count_confidence=0)
    >>> mine = absolute_checks(kpi, KpiSample(0.3, 9, np.empty(0)), 0.3)
    >>> [c[0] for c in hold_shared(kpi, mine, KpiSample(0.2, 9, np.empty(0)))[0]]
    [False]
    >>> [c[0] for c in hold_shared(kpi, mine, KpiSample(0.01, 9, np.empty(0)))[0]]
    [True]
    """
    if ref.value is None or not any(bad for bad, *_ in checks):  # nothing to hold
        return checks, []
    theirs = {rule: (bad, detail) for bad, rule, _, detail in absolute_checks(kpi, ref, ref.value)}
    out: list[Check] = []
    held: list[str] = []
    for bad, rule, limit, detail in checks:
        their = theirs.get(rule)
        if bad and their is not None and their[0]:
            held.append(f"{detail}; reference track too: {their[1]}")
            bad = False
        out.append((bad, rule, limit, detail))
    return out, held
