"""Success-prediction benchmark on real CI history (TravisTorrent format).

Run: ``.venv/bin/python tests/bench/bench_predict.py --data FILE.csv.gz --out preds.csv``

Replays every kept build in event-time order through ``SuccessPredictor`` (the class
the worker runs): a request at ``gh_build_started_at`` is predicted, its outcome is
learned at ``+ tr_duration`` (loader: tests/bench/travis.py). Writes ``OUT`` with
``tr_build_id,p_failure,alarm`` for every kept build and prints prequential ROC-AUC,
log loss, Brier, F1(failure) of the alarms raised, throughput, and two references
computed in the same run on the same event order:

* last outcome: "repeat the app's last *arrived* outcome" (no history: the base rate
  so far), alarm when that outcome was a failure;
* gbm: scikit-learn HistGradientBoosting trained offline on the first half in time of
  the very same request-time features, its F1 threshold chosen on that half, tested on
  the second half (the online model's figures on that half are printed next to it).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, log_loss, precision_recall_curve, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import travis  # noqa: E402

from models.prediction import SuccessPredictor  # noqa: E402


@dataclass
class Replay:
    """What one pass over the events produced, per build (index = position in the file)."""

    p: np.ndarray
    alarm: np.ndarray
    last: np.ndarray
    last_alarm: np.ndarray
    feats: list[dict[str, float]]
    busy: float
    events: int
    predictor: SuccessPredictor


def _replay(builds: list[travis.Build], progress_every: int) -> Replay:
    predictor = SuccessPredictor()
    index = {b.build_id: i for i, b in enumerate(builds)}
    n = len(builds)
    p = np.zeros(n)
    alarm = np.zeros(n, dtype=int)
    last = np.zeros(n)
    last_alarm = np.zeros(n, dtype=int)
    feats: list[dict[str, float]] = [{} for _ in range(n)]
    last_outcome: dict[str, int] = {}
    seen = failures = 0
    busy = 0.0
    done = 0
    for kind, b in travis.events(builds):
        i = index[b.build_id]
        if kind == 0:
            t0 = time.perf_counter()
            pred = predictor.predict(b.request)
            busy += time.perf_counter() - t0
            p[i], alarm[i] = pred.p_failure, pred.alarm
            feats[i] = predictor.pending[b.build_id].features
            prev = last_outcome.get(b.request.app)
            last[i] = (failures + 1) / (seen + 4) if prev is None else prev
            last_alarm[i] = 1 if prev == 1 else 0
        else:
            t0 = time.perf_counter()
            predictor.learn(b.finished)
            busy += time.perf_counter() - t0
            last_outcome[b.request.app] = b.failed
            seen, failures = seen + 1, failures + b.failed
        done += 1
        if progress_every and done % progress_every == 0:
            print(f"replayed {done}/{2 * n} events", file=sys.stderr, flush=True)
    return Replay(p, alarm, last, last_alarm, feats, busy, done, predictor)


def _gbm(feats: list[dict[str, float]], y: np.ndarray) -> tuple[float, float, slice]:
    names = sorted(feats[0])
    x = np.array([[f[k] for k in names] for f in feats])
    half = len(y) // 2
    train, test = slice(0, half), slice(half, len(y))
    gbm = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, random_state=0)
    gbm.fit(x[train], y[train])
    fit_p = gbm.predict_proba(x[train])[:, 1]
    prec, rec, thr = precision_recall_curve(y[train], fit_p)
    f1s = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
    threshold = float(thr[int(np.argmax(f1s))])
    test_p = gbm.predict_proba(x[test])[:, 1]
    return roc_auc_score(y[test], test_p), f1_score(y[test], test_p >= threshold), test


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=travis.DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=Path("preds.csv"))
    ap.add_argument("--progress-every", type=int, default=20_000)
    ap.add_argument("--no-gbm", action="store_true", help="skip the offline GBM reference")
    args = ap.parse_args(argv)

    t_load = time.perf_counter()
    builds = travis.load_builds(args.data, args.progress_every)
    print(
        f"loaded {len(builds)} kept builds in {time.perf_counter() - t_load:.1f}s", file=sys.stderr
    )
    t_all = time.perf_counter()
    r = _replay(builds, args.progress_every)
    wall = time.perf_counter() - t_all
    y = np.array([b.failed for b in builds])
    p, alarm = r.p, r.alarm

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["tr_build_id", "p_failure", "alarm"])
        for b, pi, ai in zip(builds, p, alarm, strict=True):
            w.writerow([b.build_id, f"{pi:.6f}", int(ai)])

    auc = roc_auc_score(y, p)
    ll = log_loss(y, np.clip(p, 1e-7, 1 - 1e-7))
    f1 = f1_score(y, alarm)
    brier = float(np.mean((p - y) ** 2))
    per_s = r.events / r.busy
    last_auc = roc_auc_score(y, r.last)
    last_f1 = f1_score(y, r.last_alarm)
    internal = r.predictor.metrics()
    print(f"builds={len(y)} failure_rate={y.mean():.3f} file={args.data}")
    print(
        f"online  roc_auc={auc:.4f} log_loss={ll:.4f} brier={brier:.4f} f1={f1:.4f} "
        f"precision={internal['precision']:.4f} recall={internal['recall']:.4f} "
        f"final_threshold={internal['threshold']:.3f}"
    )
    print(
        f"internal prequential roc_auc={internal['roc_auc']:.4f} f1={internal['f1']:.4f} "
        f"n={internal['n']} drift_detections={internal['drift']['detections']} "
        f"model_version={internal['model_version']}"
    )
    print(f"last-outcome reference roc_auc={last_auc:.4f} f1={last_f1:.4f}")
    print(
        f"throughput {per_s:.0f} predictions+learns/s in the predictor "
        f"({r.events / wall:.0f}/s incl. replay loop)"
    )
    gbm_auc = gbm_f1 = float("nan")
    if not args.no_gbm:
        gbm_auc, gbm_f1, test = _gbm(r.feats, y)
        print(
            f"second half: online roc_auc={roc_auc_score(y[test], p[test]):.4f} "
            f"f1={f1_score(y[test], alarm[test]):.4f} | gbm (offline, first half) "
            f"roc_auc={gbm_auc:.4f} f1={gbm_f1:.4f} | last outcome "
            f"roc_auc={roc_auc_score(y[test], r.last[test]):.4f}"
        )
    print(
        f"RESULT predict roc_auc={auc:.4f} f1={f1:.4f} log_loss={ll:.4f} per_s={per_s:.0f} "
        f"last_outcome_auc={last_auc:.4f} last_outcome_f1={last_f1:.4f} "
        f"gbm_auc={gbm_auc:.4f} gbm_f1={gbm_f1:.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
