"""Canary benchmark: our guard vs Flagger, Argo Rollouts and Kayenta decision rules.

Usage: ``DATA=<cloud-monitoring/data> python tests/bench/bench_canary.py``.

Scenarios come from real series of the Cloud Monitoring dataset. A segment of a
series is split into interleaved points: even points are the baseline, odd points the
canary — two samples of the *same* real process, one scrape every 10 s each. Gauge
KPIs use the minute-resolution series only (so the two tracks are one minute apart,
as concurrent pods would be; flat or mostly-zero segments are skipped); the error KPI
uses the mostly-zero count series. The 120 points before a segment are the app's
healthy history (fed to the guard before the deployment, and used to set the fixed
thresholds Flagger and Argo need: the p99 of the history's 60 s values). Every segment
gives one control (no change) and one regression injected into the canary from the
20th scrape on, watched for 10 more minutes: a step (+40..+150%), a ramp (to
+60..+200% over 5 min), variance growth at an equal median (deviations from the local
median ×3..6), or sparse error bursts (errors in a quarter of the scrapes, the error
rate ×3..6 the baseline's).

All judges see the same scrapes; the references analyse every 60 s (Flagger threshold
1, Argo failureLimit 2, Kayenta MW confidence 0.98 tolerance 0.25 over all samples
since the start). Our guard runs the shipped default policy with the bench's two KPIs
(a 60 s gauge with max_ratio 1.3, a 60 s error ratio with max_ratio 2), ``for: 30s``.
Catch = regressions rolled back after the injection; false_rollback = controls rolled
back; time to rollback = event time from injection to command.
Last line: ``RESULT canary catch=... false_rollback=... median_ttr_s=... flagger_...``.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.guard import DeploymentGuard  # noqa: E402
from models.kpi_baselines import argo, flagger, interval_values, kayenta  # noqa: E402
from models.policy import build_policies  # noqa: E402
from schemas import (  # noqa: E402
    DeploymentRequested,
    DeploymentStarted,
    MetricBatch,
    RollbackCommand,
    Series,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cloud-monitoring" / "data"
COUNT_FILES = ("purchase-01", "purchase-05", "purchase-06", "outbound-16", "outbound-23")
T0 = 1_800_000_000_000
SCRAPE_MS, PER = 10_000, 6  # 10 s scrapes, 60 s analysis intervals
HIST, SEG, INJECT = 120, 160, 20  # history points, segment points (60 pairs), inject pair
SEGMENTS = int(os.environ.get("SEGMENTS", "40"))
REQS = 1000.0  # requests per scrape per track for the error KPI

POLICY = build_policies(
    {
        "defaults": {  # the shipped defaults, with the bench's KPIs
            "analysis_interval": "10s",
            "resolution": "10s",
            "min_samples": 3,
            "kpis": [
                {
                    "name": "error_rate",
                    "kind": "ratio",
                    "window": "60s",
                    "for": "30s",
                    "numerator": {"metric": "errors_total"},
                    "denominator": {"metric": "requests_total"},
                    "max": None,
                    "max_ratio": 2.0,
                    "relative_floor": 0.002,
                },
                {
                    "name": "latency",
                    "kind": "gauge_avg",
                    "metric": {"metric": "kpi_value"},
                    "window": "60s",
                    "for": "30s",
                    "max_ratio": 1.3,
                },
                {"name": "latency_p99", "enabled": False},
                {"name": "cpu", "enabled": False},
                {"name": "memory", "enabled": False},
            ],
        }
    }
)


@dataclass
class Scenario:
    name: str
    kind: str  # none | step | ramp | variance | bursts
    counts: bool
    history: np.ndarray
    baseline: np.ndarray
    canary: np.ndarray


def inject(kind: str, canary: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    """The canary with a regression from scrape ``INJECT`` on; ``rate`` = the baseline's
    mean per scrape over the segment (same time, same process): the scale of bursts."""
    c = canary.astype(float).copy()
    k = np.arange(len(c)) - INJECT
    on = k >= 0
    if kind == "step":
        c[on] *= 1 + rng.uniform(0.4, 1.5)
    elif kind == "ramp":
        c[on] *= 1 + rng.uniform(0.6, 2.0) * np.minimum(1.0, (k[on] + 1) / 30)
    elif kind == "variance":
        med = pd.Series(canary).rolling(9, center=True, min_periods=1).median().to_numpy()
        c[on] = np.maximum(0, med[on] + (canary[on] - med[on]) * rng.uniform(3, 6))
    elif kind == "bursts":
        hit = on & (rng.random(len(c)) < 0.25)  # errors in a quarter of the scrapes,
        extra = (rng.uniform(3, 6) - 1) * max(rate, 0.2)  # the baseline's error rate x3..6
        c[hit] += rng.poisson(max(2.0, extra / 0.25), int(hit.sum()))
    return c


def _step_s(df: pd.DataFrame) -> float:
    ts = pd.to_datetime(df.iloc[:5, 0].astype(str).str.strip('"'), utc=True)
    return float(ts.diff().dt.total_seconds().median())


def scenarios(data: Path) -> list[Scenario]:
    out: list[Scenario] = []
    rng = np.random.default_rng(20261122)
    for path in sorted(data.rglob("*.csv")):
        df = pd.read_csv(path)
        values = pd.to_numeric(df.iloc[:, 1], errors="coerce").ffill().fillna(0).to_numpy(float)
        counts = path.stem in COUNT_FILES
        if counts:
            values = np.maximum(0, np.round(values))
        elif values.std() == 0 or _step_s(df) > 300:
            continue  # gauges: minute-resolution series only (tracks 1 min apart)
        stride = SEG // 4 if counts else (len(values) - HIST - SEG) // SEGMENTS
        for start in range(HIST, len(values) - SEG + 1, max(stride, 10)):
            hist, seg = values[start - HIST : start], values[start : start + SEG]
            if not counts and (np.median(np.abs(seg)) == 0 or seg.std() == 0):
                continue  # a flat or mostly-zero gauge carries no multiplicative regression
            base, can = seg[0::2], seg[1::2]
            kinds = ["bursts"] if counts else ["step", "ramp", "variance"]
            kind = kinds[len(out) // 2 % len(kinds)]
            tag = f"{path.stem}@{start}"
            out.append(Scenario(tag, "none", counts, hist, base, can))
            out.append(
                Scenario(tag, kind, counts, hist, base, inject(kind, can, rng, float(base.mean())))
            )
    return out


def _series(
    name: str, track: str, ts: list[int], vals: list[float], dep: str | None = "d1"
) -> Series:
    return Series(
        name=name,
        deployment_id=dep,
        track=track,
        timestamps_ms=ts,  # type: ignore[arg-type]
        values=vals,
    )


def run_guard(s: Scenario) -> int | None:
    """Pair index at which our guard commands a rollback, or None."""
    g = DeploymentGuard(POLICY)
    name = "errors_total" if s.counts else "kpi_value"
    cum = {"stable": 0.0, "baseline": 0.0, "canary": 0.0}
    reqs = {k: 0.0 for k in cum}
    start = T0 + len(s.history) * SCRAPE_MS
    for i, v in enumerate(s.history):  # healthy history, no deployment
        t = [T0 + i * SCRAPE_MS]
        if s.counts:
            cum["stable"] += v
            reqs["stable"] += REQS
            sers = [
                _series(name, "stable", t, [cum["stable"]], None),
                _series("requests_total", "stable", t, [reqs["stable"]], None),
            ]
        else:
            sers = [_series(name, "stable", t, [float(v)], None)]
        g.on_metrics(
            MetricBatch(
                id=f"h{i}",
                occurred_at=pd.Timestamp(t[0], unit="ms", tz="UTC"),
                app="svc",
                series=sers,
            )
        )
    at = pd.Timestamp(start - 1, unit="ms", tz="UTC")
    g.on_deploy_event(
        DeploymentRequested(
            id="r",
            occurred_at=at,
            deployment_id="d1",
            app="svc",
            version="v2",
            previous_version="v1",
        )
    )
    g.on_deploy_event(
        DeploymentStarted(
            id="s", occurred_at=at, deployment_id="d1", app="svc", version="v2", strategy="canary"
        )
    )
    for j, (b, c) in enumerate(zip(s.baseline, s.canary, strict=True)):
        t = [start + j * SCRAPE_MS]
        sers = []
        for track, v in (("baseline", b), ("canary", c)):
            if s.counts:
                cum[track] += v
                reqs[track] += REQS
                sers += [
                    _series(name, track, t, [cum[track]]),
                    _series("requests_total", track, t, [reqs[track]]),
                ]
            else:
                sers.append(_series(name, track, t, [float(v)]))
        out = g.on_metrics(
            MetricBatch(
                id=f"m{j}",
                occurred_at=pd.Timestamp(t[0], unit="ms", tz="UTC"),
                app="svc",
                series=sers,
            )
        )
        if any(isinstance(o, RollbackCommand) for o in out):
            return j
    return None


def run_refs(s: Scenario) -> dict[str, int | None]:
    """Pair index of the rollback of each reference rule (end of its analysis interval)."""
    den = np.full(len(s.canary), REQS) if s.counts else None
    hden = np.full(len(s.history), REQS) if s.counts else None
    hist_vals = interval_values(s.history, hden, 1)
    if s.counts:
        hist_vals = pd.Series(s.history).rolling(PER).sum().dropna().to_numpy() / (REQS * PER)
    else:
        hist_vals = pd.Series(s.history).rolling(PER).mean().dropna().to_numpy()
    thr = float(np.quantile(hist_vals, 0.99))
    vals = interval_values(s.canary, den, PER)
    rates_c = s.canary / REQS if s.counts else s.canary
    rates_b = s.baseline / REQS if s.counts else s.baseline

    def pair(i: int | None) -> int | None:
        return None if i is None else (i + 1) * PER - 1

    return {
        "flagger": pair(flagger(vals, thr, 1)),
        "argo": pair(argo(vals, thr, 2)),
        "kayenta": pair(kayenta(rates_c, rates_b, PER)),
    }


def evaluate(s: Scenario) -> dict[str, int | None]:
    return {"ours": run_guard(s), **run_refs(s)}


def summarize(
    scs: list[Scenario], res: list[dict[str, int | None]], who: str
) -> tuple[float, float, float]:
    caught, ttr, fps, regs, ctrls = 0, [], 0, 0, 0
    for s, r in zip(scs, res, strict=True):
        j = r[who]
        if s.kind == "none":
            ctrls += 1
            fps += j is not None
        else:
            regs += 1
            if j is not None and j >= INJECT:
                caught += 1
                ttr.append((j - INJECT + 1) * SCRAPE_MS / 1000)
    return caught / regs, fps / ctrls, float(np.median(ttr)) if ttr else float("nan")


def main() -> None:
    data = Path(os.environ.get("DATA") or DEFAULT_DATA)
    scs = scenarios(data)
    if not scs:
        raise SystemExit(f"bench-canary: no series to build scenarios from under {data} "
                         "(set DATA= to the cloud-monitoring data directory)")
    workers = int(os.environ.get("WORKERS", str(os.cpu_count() or 1)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        res = list(pool.map(evaluate, scs, chunksize=8))
    kinds = sorted({s.kind for s in scs})
    print(
        f"scenarios={len(scs)} " + " ".join(f"{k}={sum(s.kind == k for s in scs)}" for k in kinds)
    )
    for k in kinds:
        idx = [i for i, s in enumerate(scs) if s.kind == k]
        line = []
        for who in ("ours", "flagger", "argo", "kayenta"):
            hits = sum(
                res[i][who] is not None and (k == "none" or res[i][who] >= INJECT)  # type: ignore[operator]
                for i in idx
            )
            line.append(f"{who}={hits / len(idx):.3f}")
        print(f"  {k:9s} rollback rate: " + " ".join(line))
    catch, fr, ttr = summarize(scs, res, "ours")
    refs = {w: summarize(scs, res, w) for w in ("flagger", "argo", "kayenta")}
    print(
        "RESULT canary "
        + f"catch={catch:.3f} false_rollback={fr:.3f} median_ttr_s={ttr:.0f} "
        + " ".join(f"{w}_catch={c:.3f} {w}_false_rollback={f:.3f}" for w, (c, f, _) in refs.items())
    )


if __name__ == "__main__":
    main()
