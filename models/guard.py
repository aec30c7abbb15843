"""The deployment guard: metrics and lifecycle in, KPI windows, verdicts, rollbacks out.

Lifecycle: ``requested`` remembers target and versions; ``started`` starts watching
with the strategy; a ``promoted`` step starts the bake time, during which watching
goes on; ``finished`` drops the state (after a success, only once the bake time has
passed in event time). Between deployments the app's KPIs feed its learned thresholds.

Overrides win: a hold keeps verdicts flowing (``held=True``) but blocks the automated
rollback; releasing a hold while the verdict is ``rollback`` sends it then; a forced
rollback always goes. One ``RollbackCommand`` per deployment, id
``derived_id(deployment_id, "rollback")``, so re-delivery deduplicates downstream.
Everything is event time and insertion-ordered: the same inputs give the same outputs.
"""

from __future__ import annotations

from collections import OrderedDict

from pydantic import BaseModel

from models.anomaly import LevelScorer
from models.kpi_watch import Watch, compile_kpis, dt_to_ms, ms_to_dt
from models.policy import PolicySet
from models.windows import WindowSet
from schemas import (
    DeploymentFinished,
    DeploymentRequested,
    DeploymentStarted,
    DeploymentStep,
    MetricBatch,
    Override,
    RollbackCommand,
    Series,
    Verdict,
    derived_id,
)

MAX_WATCHES = 10_000  # deployments remembered (requested, watched, or recently ended)
MAX_APPS = 10_000  # apps with learned history


class _AppHistory:
    """Healthy history of one app between deployments: windows and learned thresholds."""

    def __init__(self, policies: PolicySet, app: str) -> None:
        self.policy = policies.for_app(app)
        self.windows = WindowSet(self.policy, compile_kpis(self.policy))
        self.learners: dict[str, LevelScorer] = {k.name: LevelScorer() for k in self.policy.kpis}
        self.next_tick_ms: int | None = None

    def learn_due(self) -> None:
        """Learn each KPI's value at every completed tick (healthy: no deployment running)."""
        step = max(1000, int(self.policy.analysis_interval * 1000))
        wm = self.windows.watermark_ms
        if self.next_tick_ms is None:
            self.next_tick_ms = (wm // step + 1) * step
        last = wm // step * step
        for tick in range(max(self.next_tick_ms, last - 100 * step), last + 1, step):
            for k in self.windows.kpis:
                s = self.windows.sample("stable", k.index, tick, k.policy.window)
                if s.value is not None and s.samples >= (
                    k.policy.min_samples or self.policy.min_samples
                ):
                    self.learners[k.policy.name].learn(s.value)
        self.next_tick_ms = max(self.next_tick_ms, last + step)


class DeploymentGuard:
    """Implements ``streams.pipeline.Guard``; pure, deterministic and picklable."""

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        self._watches: OrderedDict[str, Watch] = OrderedDict()
        self._apps: OrderedDict[str, _AppHistory] = OrderedDict()
        self._latest: dict[str, str | None] = {}  # app -> its newest watched deployment

    # ----------------------------------------------------------------- lifecycle
    def _watch(self, deployment_id: str, app: str) -> Watch:
        w = self._watches.get(deployment_id)
        if w is None:
            w = Watch(deployment_id, app, self.policies.for_app(app))
            self._watches[deployment_id] = w
            while len(self._watches) > MAX_WATCHES:
                self._watches.popitem(last=False)
        return w

    def on_deploy_event(
        self, event: DeploymentRequested | DeploymentStarted | DeploymentStep | DeploymentFinished
    ) -> list[BaseModel]:
        at = dt_to_ms(event.occurred_at)
        w = self._watch(event.deployment_id, event.app)
        if w.app != event.app:
            w.app, w.policy = event.app, self.policies.for_app(event.app)
        if isinstance(event, DeploymentRequested):
            w.environment, w.version = event.environment, event.version
            w.previous_version, w.target = event.previous_version, event.target
        elif isinstance(event, DeploymentStarted):
            w.environment, w.strategy = event.environment, event.strategy
            w.version = event.version or w.version
            if not w.watching and not w.rolled_back and not w.finished:
                w.start(at)
                self._latest[w.app] = w.deployment_id
        elif isinstance(event, DeploymentStep):
            if event.phase == "promoted" and w.bake_until_ms is None:
                w.bake_until_ms = at + int(w.policy.bake_time * 1000)
        elif isinstance(event, DeploymentFinished):
            w.finished = True
            if event.outcome == "succeeded" and w.watching:
                if w.bake_until_ms is None:
                    w.bake_until_ms = at + int(w.policy.bake_time * 1000)
                if w.bake_until_ms > at:
                    return []
            w.stop()
        return []

    def _active(self, app: str) -> Watch | None:
        """The app's newest deployment still watched (a scan only when that one ended)."""
        dep = self._latest.get(app)
        w = self._watches.get(dep) if dep is not None else None
        if w is not None and w.watching:
            return w
        if app in self._latest and dep is None:
            return None
        found = next(
            (x for x in reversed(self._watches.values()) if x.app == app and x.watching), None
        )
        self._latest[app] = found.deployment_id if found is not None else None
        if len(self._latest) > MAX_APPS:
            self._latest.pop(next(iter(self._latest)))
        return found

    # ------------------------------------------------------------------- metrics
    def on_metrics(self, batch: MetricBatch) -> list[BaseModel]:
        """Route each series to a deployment and track, then ingest per window set at once."""
        touched: dict[str, tuple[Watch, list[tuple[Series, str]]]] = {}
        learned: list[tuple[Series, str]] = []
        active = self._active(batch.app)
        last_dep, items = None, None  # series of one deployment come in runs: one lookup
        for s in batch.series:
            dep = s.deployment_id
            if dep is not None:
                if dep != last_dep:
                    last_dep, items = dep, self._items(touched, self._watches.get(dep))
                if items is not None:
                    items.append((s, s.track))
            elif active is not None:
                version = s.version or s.labels.get("version")
                if version and version == active.version:
                    track = "canary"
                elif version and version == active.previous_version:
                    track = "stable"
                else:
                    track = s.track
                self._items(touched, active).append((s, track))  # type: ignore[union-attr]
            else:
                learned.append((s, "stable"))
        if learned:
            history = self._history(batch.app)
            history.windows.ingest_batch(learned)
            history.learn_due()
        out: list[BaseModel] = []
        for w, group in touched.values():
            assert w.windows is not None
            w.windows.ingest_batch(group)
        for w, _ in touched.values():
            out.extend(self._tick(w))
        return out

    @staticmethod
    def _items(
        touched: dict[str, tuple[Watch, list[tuple[Series, str]]]], w: Watch | None
    ) -> list[tuple[Series, str]] | None:
        """The list collecting a watched deployment's series (None: not watched)."""
        if w is None or not w.watching:
            return None
        entry = touched.get(w.deployment_id)
        if entry is None:
            entry = touched[w.deployment_id] = (w, [])
        return entry[1]

    def _history(self, app: str) -> _AppHistory:
        h = self._apps.get(app)
        if h is None:
            h = self._apps[app] = _AppHistory(self.policies, app)
            while len(self._apps) > MAX_APPS:
                self._apps.popitem(last=False)
        return h

    def _learners(self, app: str) -> dict[str, LevelScorer]:
        h = self._apps.get(app)
        return h.learners if h is not None else {}

    def _tick(self, w: Watch) -> list[BaseModel]:
        out: list[BaseModel] = []
        for tick in w.due_ticks():
            if not w.watching:
                break
            previous = w.machine.state
            statuses, _, state, reason = w.evaluate(tick, self._learners(w.app))
            out.extend(w.kpi_windows(statuses, tick))
            w.evidence = w.evidence_of(statuses, tick)
            w.machine.state = state
            baked = w.bake_until_ms is not None and tick >= w.bake_until_ms
            if baked and state != "rollback":
                reason = f"bake time passed; {reason}"
            if state != previous or w.ticks % w.policy.verdict_every == 0 or baked:
                out.append(
                    self._verdict(
                        w, derived_id(w.deployment_id, "verdict", tick), tick, previous, reason
                    )
                )
            if state == "rollback" and not w.held:
                out.append(self._rollback(w, tick, reason))
            elif baked:
                w.stop()
                if w.finished:
                    self._watches.pop(w.deployment_id, None)
        return out

    def _verdict(
        self, w: Watch, vid: str, at_ms: int, previous: str | None, reason: str
    ) -> Verdict:
        return Verdict(
            id=vid,
            occurred_at=ms_to_dt(at_ms),
            deployment_id=w.deployment_id,
            app=w.app,
            state=w.machine.state or "inconclusive",  # type: ignore[arg-type]
            previous_state=previous,  # type: ignore[arg-type]
            counters=dict(w.machine.counters),
            evidence=list(w.evidence),
            reason=reason,
            held=w.held,
            details={
                "strategy": w.strategy,
                "version": w.version,
                "watching": w.watching,
                "ticks": w.ticks,
            },
        )

    def _rollback(
        self, w: Watch, at_ms: int, reason: str, forced: bool = False, by: str = "smartdeploy"
    ) -> RollbackCommand:
        w.rolled_back = True
        w.stop()
        return RollbackCommand(
            id=derived_id(w.deployment_id, "rollback"),
            occurred_at=ms_to_dt(at_ms),
            deployment_id=w.deployment_id,
            app=w.app,
            environment=w.environment,
            target=w.target,
            strategy=w.strategy,
            from_version=w.version,
            to_version=w.previous_version,
            reason=reason,
            evidence=list(w.evidence),
            forced=forced,
            requested_by=by,
        )

    # ----------------------------------------------------------------- overrides
    def on_override(self, override: Override) -> list[BaseModel]:
        w = self._watch(override.deployment_id, override.app or "unknown")
        at = dt_to_ms(override.occurred_at)
        previous = w.machine.state
        out: list[BaseModel] = []
        note = f"{override.action} by {override.actor}: {override.reason}"
        if override.action == "hold":
            w.held = True
        elif override.action == "release":
            w.held = False
        vid = derived_id(override.id, "verdict")
        if override.action == "force_rollback":
            w.machine.state = "rollback"
            out.append(self._verdict(w, vid, at, previous, note))
            out.append(self._rollback(w, at, note, forced=True, by=override.actor))
            return out
        out.append(self._verdict(w, vid, at, previous, note))
        if override.action == "release" and w.machine.state == "rollback" and not w.rolled_back:
            out.append(self._rollback(w, at, f"released by {override.actor}; sustained breach"))
        return out


__all__ = ["DeploymentGuard", "WindowSet"]
