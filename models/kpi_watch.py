"""One watched deployment: its windows, per-KPI sustain rules, verdict machine and ticks.

Analysis ticks are aligned to multiples of ``analysis_interval`` in event time. The
window ending at tick T holds samples with timestamps in ``[T - window, T)`` and is
evaluated as soon as any sample at or after T has arrived (the event-time watermark),
so the batch that completes a sustained breach is the one that triggers the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from models.anomaly import LevelScorer
from models.kpi import CompiledKpi
from models.policy import AppPolicy
from models.verdict import KpiStatus, Machine, Sustain, assess
from models.windows import WindowSet
from schemas import Evidence, KpiWindow, Target, derived_id

MAX_CATCH_UP = 360  # ticks evaluated at most per batch; older gaps are skipped


@lru_cache(maxsize=4096)  # a tick's records share their times; datetimes are immutable
def ms_to_dt(ms: int) -> datetime:
    """Event time in ms since the epoch as an aware UTC datetime.

    >>> ms_to_dt(0).isoformat()
    '1970-01-01T00:00:00+00:00'
    """
    return datetime.fromtimestamp(ms / 1000.0, UTC)


def dt_to_ms(dt: datetime) -> int:
    return int(round(dt.timestamp() * 1000))


def judge_spans(window: float, longest: float) -> list[float]:
    """Nested spans the canary judge compares: the KPI window, doubled up to ``longest``.

    Short spans react fast; long spans have the power to see small or noisy shifts.

    >>> judge_spans(60, 300), judge_spans(60, 0)
    ([60, 120, 240, 300], [60])
    """
    spans = [window]
    while spans[-1] * 2 < longest:
        spans.append(spans[-1] * 2)
    if longest > spans[-1]:
        spans.append(longest)
    return spans


def compile_kpis(policy: AppPolicy) -> list[CompiledKpi]:
    return [CompiledKpi(i, k) for i, k in enumerate(policy.active_kpis)]


@dataclass
class Watch:
    """Everything the guard knows about one deployment."""

    deployment_id: str
    app: str
    policy: AppPolicy
    environment: str = "production"
    version: str = ""
    previous_version: str | None = None
    target: Target = field(default_factory=Target)
    strategy: str = "rolling"
    windows: WindowSet | None = None
    sustain: dict[str, Sustain] = field(default_factory=dict)
    machine: Machine = field(default_factory=Machine)
    next_tick_ms: int | None = None
    started_ms: int | None = None
    bake_until_ms: int | None = None
    finished: bool = False
    held: bool = False
    rolled_back: bool = False
    ticks: int = 0
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def watching(self) -> bool:
        return self.windows is not None and not self.rolled_back

    def start(self, at_ms: int) -> None:
        """Begin watching: fresh windows, first tick at the next interval boundary."""
        kpis = compile_kpis(self.policy)
        self.windows = WindowSet(self.policy, kpis)
        self.sustain = {
            k.policy.name: Sustain(
                int(k.policy.for_ * 1000) if k.policy.for_ is not None else None, k.policy.x_of_y
            )
            for k in kpis
        }
        self.started_ms = at_ms
        step = self.interval_ms
        self.next_tick_ms = (at_ms // step + 1) * step

    def stop(self) -> None:
        """Drop the windows (memory) but keep identity and verdict for overrides."""
        self.windows = None

    @property
    def interval_ms(self) -> int:
        return max(1000, int(self.policy.analysis_interval * 1000))

    def subject_track(self, tick_ms: int) -> str:
        """The new version's track: ``canary`` while it reports, else ``stable``.

        A canary or shadow rollout watches its canary until promotion, even without data
        (then inconclusive); after promotion, or when the canary stops reporting for a
        whole window, the new version is the ``stable`` track.
        """
        assert self.windows is not None
        promoted = self.bake_until_ms is not None
        span = (
            2 * self.policy.analysis_interval + self.policy.resolution
            if promoted
            else max((k.window for k in self.policy.active_kpis), default=60.0)
        )
        if self.windows.has_track("canary", tick_ms - int(span * 1000)):
            return "canary"
        if self.strategy in ("canary", "shadow") and not promoted:
            return "canary"
        return "stable"

    def due_ticks(self) -> list[int]:
        """Ticks whose windows are complete under the current watermark."""
        if self.windows is None or self.next_tick_ms is None:
            return []
        wm, step = self.windows.watermark_ms, self.interval_ms
        if wm < self.next_tick_ms:
            return []
        last = wm // step * step
        first = max(self.next_tick_ms, last - (MAX_CATCH_UP - 1) * step)
        self.next_tick_ms = last + step
        return list(range(first, last + 1, step))

    def evaluate(
        self, tick_ms: int, learners: dict[str, LevelScorer]
    ) -> tuple[list[KpiStatus], list[str], str, str]:
        """Assess every KPI at ``tick_ms``; returns statuses, sustained KPIs, state, reason."""
        assert self.windows is not None
        w, subject = self.windows, self.subject_track(tick_ms)
        statuses, sustained = [], []
        canary = subject == "canary"
        age_s = None if self.started_ms is None else (tick_ms - self.started_ms) / 1000.0
        other = "baseline" if canary and w.has_track("baseline", tick_ms - 120_000) else "stable"
        for k in w.kpis:
            kp = k.policy
            # one read of each track's ring per KPI: the window and every judge span at once
            spans = judge_spans(kp.window, self.policy.judge_window) if canary and kp.judge else []
            mine = w.samples(subject, k.index, tick_ms, [max(kp.window, 1.0), *spans])
            subj, ref, pairs = mine[0], None, []
            if canary:
                theirs = w.samples(other, k.index, tick_ms, [kp.window, *spans])
                ref = theirs[0]
                pairs = list(zip(mine[1:], theirs[1:], strict=True))
            st = assess(
                kp, self.policy, subject, subj, ref, learners.get(kp.name), pairs, age_s
            )
            statuses.append(st)
            if self.sustain[kp.name].update(st.status, tick_ms):
                sustained.append(kp.name)
        state, reason = self.machine.step(statuses, sustained, self.policy.inconclusive_limit)
        self.ticks += 1
        return statuses, sustained, state, reason

    def kpi_windows(self, statuses: list[KpiStatus], tick_ms: int) -> list[KpiWindow]:
        """The ``KpiWindow`` records of a tick (``statuses`` as ``evaluate`` returns them)."""
        end = ms_to_dt(tick_ms)
        return [
            KpiWindow(
                id=derived_id(self.deployment_id, "kpi", st.kpi, tick_ms),
                occurred_at=end,
                deployment_id=self.deployment_id,
                app=self.app,
                track=st.track,
                kpi=st.kpi,  # type: ignore[arg-type]
                window_start=ms_to_dt(tick_ms - int(kp.window * 1000)),
                window_end=end,
                value=st.value,
                baseline=st.baseline,
                threshold=st.threshold,
                samples=st.samples,
                status=st.status,  # type: ignore[arg-type]
                anomaly_score=st.anomaly_score,
                detail=(st.rule + ": " + st.detail).strip(": "),
            )
            for st, kp in zip(statuses, self.policy.active_kpis, strict=True)
        ]

    def evidence_of(self, statuses: list[KpiStatus], tick_ms: int) -> list[Evidence]:
        chosen = [s for s in statuses if s.status == "breach"] or [
            s for s in statuses if s.status == "inconclusive"
        ]
        out = []
        for s in chosen:
            kp = next(k for k in self.policy.active_kpis if k.name == s.kpi)
            out.append(
                Evidence(
                    kpi=s.kpi,
                    track=s.track,
                    value=s.value,
                    threshold=s.threshold,  # type: ignore[arg-type]
                    baseline=s.baseline,
                    window_start=ms_to_dt(tick_ms - int(kp.window * 1000)),
                    window_end=ms_to_dt(tick_ms),
                    rule=s.rule or s.status,
                    detail=s.detail,
                )
            )
        return out
