"""Alpha spending over a deployment's life: the canary judge's per-look level, by age.

Why: the judge tests canary against baseline at every analysis tick, on nested spans,
for as long as the deployment is watched. Each look at a fixed level ``alpha`` is a
fresh chance of a false breach, so a healthy canary watched for five hours (1,800
ticks of 10 s) collects 1,800 chances where a ten-minute canary collects 60: the
false-rollback probability grows with the deployment's age, and "never roll back a
healthy one" cannot hold for long canaries.

Spending: the full level during ``grace_s``, then ``alpha * (grace_s / age) ** 2`` —
each doubling of the age quarters the level. The grace is the analysis a canary
typically gets (15 min; Flagger, Argo and Kayenta analyses run 10–30 min), and no
less than the judge's longest span (``judge_window``, 600 s by default): until then
every look adds a large share of new data (a group-sequential design on growing
samples), and a short canary keeps its full power and reaction time; after it, looks
slide full windows along, and repeating the same test is what must be paid for.

The levels summed over an unbounded life are then at most twice the grace period's
sum (the tail ``∫ (g/t)² dt`` from ``g`` to ∞ is ``g``), so the expected number
of false breaching looks of a healthy canary is bounded however long it runs, not
proportional to its age. A real regression keeps being caught late in life: the
p-value of a sustained shift falls exponentially with the window's size (a 600 s
window of 5 s buckets separates a clear regression at p < 1e-30), far below the
tightened level; only regressions at the edge of detectability take longer.

The schedule is a pure function of the event-time age (``tick - started``), so the
only per-deployment state is the start time the watch already keeps; a replay gives
the same levels as the live run. Combined with the judge's tolerance-null tests
(``models.canary``), which keep a healthy canary's per-look p-values far above the
level in the first place, this bounds false rollbacks over the whole life.
"""

from __future__ import annotations

GRACE_S = 900.0  # a typical canary analysis; callers pass max(this, judge_window)
FLOOR = 1e-12  # below this the rank tests' normal approximation is not meaningful


def spent_alpha(alpha: float, age_s: float | None, grace_s: float = GRACE_S) -> float:
    """The judge's level for a look at ``age_s`` seconds after watching started.

    ``None`` (age unknown) keeps the full level, like the grace period.

    >>> spent_alpha(1e-4, 900.0), spent_alpha(1e-4, None)
    (0.0001, 0.0001)
    >>> spent_alpha(1e-4, 1800.0), spent_alpha(1e-4, 3600.0)
    (2.5e-05, 6.25e-06)
    """
    if age_s is None or age_s <= grace_s or grace_s <= 0:
        return alpha
    return max(FLOOR, alpha * (grace_s / age_s) ** 2)


def spent_total(
    alpha: float, interval_s: float, horizon_s: float, grace_s: float = GRACE_S
) -> float:
    """Sum of the per-look levels over ``horizon_s`` of looks every ``interval_s``.

    The budget a healthy canary spends; bounded by ``2 * alpha * grace_s / interval_s``
    however long the horizon (compare ``alpha * horizon_s / interval_s`` unspent).

    >>> round(spent_total(1e-4, 10.0, 5 * 3600.0) / 1e-4), 5 * 3600 // 10
    (175, 1800)
    >>> round(spent_total(1e-4, 10.0, 1e6) / 1e-4), 2 * 900 // 10
    (179, 180)
    """
    looks = int(horizon_s // interval_s)
    return sum(spent_alpha(alpha, (i + 1) * interval_s, grace_s) for i in range(looks))
