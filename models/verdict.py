"""From KPI windows to a verdict: rule checks, sustained rules, and the state machine.

States: ``healthy`` (every evaluable KPI fine), ``degraded`` (a breach, not yet
sustained), ``rollback`` (a breach sustained by its ``for`` / ``x_of_y`` rule),
``inconclusive`` (no KPI could be evaluated: missing or broken data) and ``error``
(inconclusive for more than ``inconclusive_limit`` intervals in a row: analysis has
failed and a human must look). Missing data is never a breach, and an inconclusive
window resets a ``for`` streak, so inconclusive data alone can never reach ``rollback``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from models.anomaly import LevelScorer
from models.canary import JudgeResult, judge
from models.kpi import KpiSample
from models.policy import AppPolicy, KpiPolicy
from models.sequential import GRACE_S
from models.threshold_rules import absolute_checks, hold_shared, relative_checks


@dataclass(frozen=True)
class KpiStatus:
    """One KPI's window, judged: the basis of ``KpiWindow`` records and evidence."""

    kpi: str
    track: str
    status: str  # ok | breach | inconclusive
    value: float | None
    samples: int
    baseline: float | None = None
    threshold: float | None = None
    rule: str = ""
    detail: str = ""
    anomaly_score: float | None = None


JUDGE_MIN_POINTS = 6
DEFAULT_TOLERANCE = 0.2


def _same_window(a: KpiSample, b: KpiSample) -> bool:
    """Whether the judge would see the same input (points, counts, exposure) in both.

    Points compare bit for bit: identical input gives the judge's identical result.
    """
    if a is b:
        return True
    pa, pb = a.points, b.points  # 1-D: equal lengths are equal shapes
    return len(pa) == len(pb) and a.num == b.num and a.den == b.den and pa.tobytes() == pb.tobytes()


def assess(
    kpi: KpiPolicy,
    policy: AppPolicy,
    track: str,
    subj: KpiSample,
    ref: KpiSample | None,
    learned: LevelScorer | None,
    pairs: list[tuple[KpiSample, KpiSample]] | None = None,
    age_s: float | None = None,
) -> KpiStatus:
    """Apply a KPI's rules to its subject window (absolute, relative, judge, learned).

    ``age_s`` (event time since watching started) lets the judge spend its level over a
    long watch, so a healthy canary watched for hours is not rolled back by chance.
    """
    need = kpi.min_samples or policy.min_samples
    if subj.samples < need or subj.value is None or not math.isfinite(subj.value):
        why = "no data" if subj.samples == 0 else f"{subj.samples} samples < {need} or no value"
        return KpiStatus(kpi.name, track, "inconclusive", subj.value, subj.samples, detail=why)
    v: float = subj.value
    ref_ok = ref is not None and ref.samples >= need and ref.value is not None
    base = ref.value if ref_ok and ref is not None else (learned.level if learned else None)
    score = None
    if learned is not None and kpi.learned and learned.n >= policy.anomaly.min_history:
        score = learned.score(v, kpi.direction)
    checks = absolute_checks(kpi, subj, v)
    held: list[str] = []
    if policy.shared_breach == "hold" and track == "canary" and ref_ok and ref is not None:
        checks, held = hold_shared(kpi, checks, ref)
    usable = [p for p in pairs or [] if min(len(p[0].points), len(p[1].points)) >= JUDGE_MIN_POINTS]
    if kpi.judge and usable and track == "canary":
        # canary vs baseline: the judge decides, the relative rule sets its effect size
        ratio = kpi.max_ratio if kpi.direction == "up" else kpi.min_ratio
        tol = abs(ratio - 1.0) if ratio is not None else DEFAULT_TOLERANCE
        alpha = 1.0 - policy.judge_confidence  # per span: nested spans are correlated
        quantile = (kpi.quantile or 0.5) if kpi.kind == "quantile" else None
        grace_s = max(GRACE_S, policy.judge_window)
        results: list[JudgeResult] = []
        for i, (a, b) in enumerate(usable):
            if i and _same_window(a, usable[i - 1][0]) and _same_window(b, usable[i - 1][1]):
                results.append(results[-1])  # a longer span that adds no bucket: same result
                continue
            results.append(
                judge(
                    a,
                    b,
                    direction=kpi.direction,
                    tolerance=tol,
                    alpha=alpha,
                    floor=kpi.relative_floor * 0.1,
                    min_points=JUDGE_MIN_POINTS,
                    ratio_kpi=kpi.kind == "ratio",
                    quantile=quantile,
                    age_s=age_s,
                    grace_s=grace_s,
                )
            )
        res = min(results, key=lambda r: (not r.breach, r.p_value))
        checks.append(
            (
                res.breach,
                f"judge:{res.test or 'none'}",
                base * (1 + tol) if base is not None else None,
                res.detail,
            )
        )
    elif base is not None:
        learned_score = score if not ref_ok and policy.anomaly.enabled else None
        checks += relative_checks(kpi, subj, v, base, learned_score, policy.anomaly.threshold)
    if score is not None and policy.anomaly.enabled and not ref_ok and not kpi.has_relative:
        checks.append(
            (
                score >= policy.anomaly.threshold,
                "learned",
                policy.anomaly.threshold,
                f"anomaly score {score:.4f}",
            )
        )
    if not checks:
        return KpiStatus(
            kpi.name,
            track,
            "inconclusive",
            v,
            subj.samples,
            base,
            detail="no rule applies: no baseline and no absolute threshold",
        )
    hit = next((c for c in checks if c[0]), None)
    if hit is None and held:  # not the canary's doing as far as the data tell: no verdict
        why = "shared with the reference track (shared_breach: hold): " + "; ".join(held)
        return KpiStatus(kpi.name, track, "inconclusive", v, subj.samples, base,
                         rule="shared_breach", detail=why, anomaly_score=score)
    if hit is None:
        return KpiStatus(
            kpi.name,
            track,
            "ok",
            v,
            subj.samples,
            base,
            next((c[2] for c in checks if c[2] is not None), None),
            anomaly_score=score,
        )
    return KpiStatus(
        kpi.name, track, "breach", v, subj.samples, base, hit[2], hit[1], hit[3], score
    )


@dataclass
class Sustain:
    """``for`` and ``x_of_y`` bookkeeping of one KPI (event time of analysis ticks)."""

    for_ms: int | None
    x_of_y: tuple[int, int] | None
    since_ms: int | None = None
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=1))

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.x_of_y[1] if self.x_of_y else 1)

    def update(self, status: str, tick_ms: int) -> bool:
        """Record a window's status; True when the breach is sustained."""
        breach = status == "breach"
        self.recent.append(1 if breach else 0)
        if not breach:
            self.since_ms = None
            return False
        if self.since_ms is None:
            self.since_ms = tick_ms
        fired = []
        if self.for_ms is not None:
            fired.append(tick_ms - self.since_ms >= self.for_ms)
        if self.x_of_y is not None:
            fired.append(sum(self.recent) >= self.x_of_y[0])
        return any(fired) if fired else True


@dataclass
class Machine:
    """The verdict state machine of one deployment, with counters."""

    state: str | None = None
    consecutive_inconclusive: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def step(self, statuses: list[KpiStatus], sustained: list[str], limit: int) -> tuple[str, str]:
        """Next state and reason from this interval's KPI statuses."""
        c = self.counters
        c["evaluations"] = c.get("evaluations", 0) + 1
        for s in statuses:
            c[s.status] = c.get(s.status, 0) + 1
        breaches = [s for s in statuses if s.status == "breach"]
        evaluable = [s for s in statuses if s.status != "inconclusive"]
        if sustained:
            state, reason = "rollback", "sustained breach of " + ", ".join(sustained)
        elif breaches:
            state, reason = "degraded", "breach of " + ", ".join(s.kpi for s in breaches)
        elif not evaluable:
            self.consecutive_inconclusive += 1
            over = self.consecutive_inconclusive > limit
            state = "error" if over else "inconclusive"
            reason = (
                "no KPI could be evaluated for "
                f"{self.consecutive_inconclusive} intervals (limit {limit})"
            )
        else:
            state, reason = "healthy", "all evaluable KPIs within policy"
            held = [s.kpi for s in statuses if s.rule == "shared_breach"]
            if held:  # shared_breach: hold — say so, the state alone would hide it
                reason += "; held (breached by the reference track too): " + ", ".join(held)
        if evaluable:
            self.consecutive_inconclusive = 0
        c["consecutive_inconclusive"] = self.consecutive_inconclusive
        c[f"state_{state}"] = c.get(f"state_{state}", 0) + 1
        return state, reason
