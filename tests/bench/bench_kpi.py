"""Benchmark of the streaming KPI anomaly scorer over a corpus of labelled series.

Usage: ``DATA=<dir> OUT=<dir> python tests/bench/bench_kpi.py``
(default DATA: ../shared/data/cloud-monitoring/data; OUT: var/bench-kpi).

Every CSV under DATA (``timestamp,value[,label]`` or ``TimeStamp,Value,Label``) is
scored one point at a time by ``models.kpi_detector.PointDetector`` (score before
learn, no look-ahead) and written to ``OUT/<subfolder>/<file>.csv`` with columns
``timestamp,value,anomaly_score``. Labels come from the CSV's label column or, for
NAB-style corpora, from ``LABELS=<combined_windows.json>`` (windows used as given).
Prints event-level precision / recall / F1, mean detection delay and the NAB-style
score (tests/bench/nab_score.py) at the corpus-optimal threshold; last line
``RESULT kpi nab_standard=... precision=... recall=... f1=... mean_delay_s=...``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nab_score import Labelled, probation_of, score_corpus, windows_from_labels  # noqa: E402

from models.anomaly import live_threshold  # noqa: E402
from models.kpi_detector import PointDetector  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cloud-monitoring" / "data"


def read_csv(path: Path) -> tuple[pd.Series, np.ndarray, np.ndarray | None]:
    df = pd.read_csv(path)
    cols = {c.lower().strip(): c for c in df.columns}
    if "timestamp" not in cols or "value" not in cols:
        raise ValueError(f"{path}: needs columns timestamp,value[,label]")
    ts = df[cols["timestamp"]].astype(str).str.strip('"')
    values = pd.to_numeric(df[cols["value"]], errors="coerce").to_numpy(dtype=float)
    labels = df[cols["label"]].to_numpy(dtype=int) if "label" in cols else None
    return ts, values, labels


def to_seconds(ts: pd.Series) -> np.ndarray:
    """Epoch seconds of timestamp strings (any pandas datetime resolution)."""
    dt = pd.to_datetime(ts, utc=True, errors="coerce")
    return ((dt - pd.Timestamp(0, tz="UTC")).dt.total_seconds()).to_numpy(dtype=float)


def points_per_hour(secs: np.ndarray) -> float:
    """Sampling rate from the timestamps alone (median spacing), at least 1 per hour."""
    steps = np.diff(secs[np.isfinite(secs)])
    dt = float(np.median(steps)) if steps.size else 3600.0
    return max(1.0, 3600.0 / dt) if dt > 0 else 1.0


def detector_for(n: int, per_hour: float = 1.0) -> PointDetector:
    """Parameters depend only on the file length (like NAB's probationary period) and
    the sampling rate: after an alarm, stay quiet for 1% of the file (up to 5% while
    still anomalous); the alarm budget is per hour, not per point."""
    return PointDetector(
        probation=probation_of(n),
        quiet=max(5, n // 100),
        max_hold=max(5, n // 20),
        per_hour=per_hour,
    )


def run_file(
    args: tuple[Path, Path, Path],
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray | None, int, float]:
    path, data, out = args
    ts, values, labels = read_csv(path)
    secs = to_seconds(ts)
    det = detector_for(len(values), points_per_hour(secs))
    t0 = time.perf_counter()
    scores = np.array([det.score(float(v)) for v in values])
    elapsed = time.perf_counter() - t0
    rel = path.relative_to(data)
    target = out / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"timestamp": ts, "value": values, "anomaly_score": scores}).to_csv(
        target, index=False
    )
    return str(rel), scores, secs, labels, len(values), elapsed


def nab_windows(labels_json: dict, rel: str, secs: np.ndarray) -> list[tuple[int, int, int]]:
    spans = labels_json.get(rel) or labels_json.get(rel.replace(os.sep, "/")) or []
    out = []
    for start, end in spans:
        lo_s = pd.Timestamp(start, tz="UTC").value / 1e9
        hi_s = pd.Timestamp(end, tz="UTC").value / 1e9
        lo, hi = int(np.searchsorted(secs, lo_s)), int(np.searchsorted(secs, hi_s, "right")) - 1
        out.append((lo, hi, (lo + hi) // 2))
    return out


def main() -> None:
    data = Path(os.environ.get("DATA") or DEFAULT_DATA).resolve()
    out = Path(os.environ.get("OUT") or ROOT / "var" / "bench-kpi").resolve()
    labels_json = (
        json.loads(Path(os.environ["LABELS"]).read_text()) if os.environ.get("LABELS") else None
    )
    files = sorted(p for p in data.rglob("*.csv") if out not in p.parents)
    if not files:
        raise SystemExit(f"no CSV files under {data}")
    workers = int(os.environ.get("WORKERS", str(os.cpu_count() or 1)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run_file, [(p, data, out) for p in files]))
    labelled, points, busy = [], 0, 0.0
    for rel, scores, secs, labels, n, elapsed in results:
        points, busy = points + n, busy + elapsed
        if labels_json is not None:
            wins = nab_windows(labels_json, rel, secs)
        elif labels is not None:
            wins = windows_from_labels(labels, probation_of(n))
        else:
            continue
        labelled.append(Labelled(rel, scores, wins, probation_of(n), secs))
    print(f"files={len(files)} points={points} scorer_points_per_s={points / busy:,.0f} out={out}")
    if not labelled:
        print("RESULT kpi nab_standard=nan precision=nan recall=nan f1=nan mean_delay_s=nan")
        return
    for profile in ("reward_low_FP_rate", "reward_low_FN_rate"):
        print(f"nab_{profile}={score_corpus(labelled, profile).normalized:.1f}")
    best = score_corpus(labelled, "standard")
    delay = float(np.mean(best.delays)) if best.delays else float("nan")
    print(
        f"threshold={best.threshold:.4f} windows_detected={best.tp} missed={best.fn} "
        f"false_alarms={best.fp} live_likelihood_threshold_at_10s_ticks="
        f"{live_threshold(best.threshold, 10.0):.6f}"
    )
    print(
        f"RESULT kpi nab_standard={best.normalized:.1f} precision={best.precision:.3f} "
        f"recall={best.recall:.3f} f1={best.f1:.3f} mean_delay_s={delay:.0f}"
    )


if __name__ == "__main__":
    main()
