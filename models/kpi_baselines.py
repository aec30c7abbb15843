"""The documented decision rules of other canary tools, for side-by-side comparison.

Re-implemented from their documentation (no code taken from them), each as a pure
function over the same per-scrape canary/baseline measurements our guard sees:

* **Flagger**: every ``interval`` the metric over that interval is checked against a
  fixed ``thresholdRange.max``; each failed check increments ``failedChecks``; the
  canary is rolled back when ``failedChecks >= threshold``.
* **Argo Rollouts** (AnalysisRun): a measurement every ``interval`` against the
  ``successCondition``; the run fails — and the rollout aborts — when the number of
  failed measurements exceeds ``failureLimit``.
* **Kayenta** (Mann-Whitney classifier): canary vs baseline samples of the analysis
  scope compared with a two-sided Mann-Whitney U test at ``confidence``; a significant
  difference whose effect (canary/baseline mean ratio) exceeds ``1 + tolerance`` in
  the bad direction marks the metric High, failing the (single-metric) canary.

Each returns the index of the analysis at which it rolls back, or ``None``.
"""

from __future__ import annotations

import numpy as np

from models.rank_tests import mann_whitney_greater


def interval_values(num: np.ndarray, den: np.ndarray | None, per: int) -> np.ndarray:
    """Metric per analysis interval of ``per`` scrapes: mean, or sum(num)/sum(den)."""
    n = len(num) // per
    if n == 0:
        return np.empty(0)
    a = num[: n * per].reshape(n, per)
    if den is None:
        return a.mean(axis=1)
    d = den[: n * per].reshape(n, per).sum(axis=1)
    return np.where(d > 0, a.sum(axis=1) / np.maximum(d, 1e-12), np.nan)


def flagger(values: np.ndarray, max_value: float, threshold: int = 1) -> int | None:
    """First interval at which failed checks reach ``threshold`` (NaN = failed check)."""
    failed = 0
    for i, v in enumerate(values):
        if not np.isfinite(v) or v > max_value:
            failed += 1
            if failed >= threshold:
                return i
    return None


def argo(values: np.ndarray, max_value: float, failure_limit: int = 2) -> int | None:
    """First measurement at which failed measurements exceed ``failure_limit``."""
    failed = 0
    for i, v in enumerate(values):
        if np.isfinite(v) and v > max_value:
            failed += 1
            if failed > failure_limit:
                return i
    return None


def kayenta(
    canary: np.ndarray,
    baseline: np.ndarray,
    per: int,
    confidence: float = 0.98,
    tolerance: float = 0.25,
    min_points: int = 3,
) -> int | None:
    """First analysis (every ``per`` scrapes, scope = all samples so far) judged High."""
    alpha = 1.0 - confidence
    for i in range(len(canary) // per):
        c, b = canary[: (i + 1) * per], baseline[: (i + 1) * per]
        c, b = c[np.isfinite(c)], b[np.isfinite(b)]
        if len(c) < min_points or len(b) < min_points:
            continue
        p_up = mann_whitney_greater(c, b)
        p_two = min(1.0, 2.0 * min(p_up, mann_whitney_greater(b, c)))
        mb = float(b.mean())
        ratio = float(c.mean()) / mb if mb > 0 else (np.inf if c.mean() > 0 else 1.0)
        if p_two < alpha and ratio > 1.0 + tolerance:
            return i
    return None
