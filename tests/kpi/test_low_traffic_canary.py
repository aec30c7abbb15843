"""Error counts of a canary on a tenth of the baseline's traffic.

From ``make bench-fleet``: with a 10 % canary, 5xx ×5 (0.5 % → 2.5 %) was not always
rolled back in 20 minutes, because the counts test asked for errors in more scrape
buckets than the baseline's — which a canary serving a tenth of the requests cannot
have at any plausible rate. The test now also holds with the canary's two worst
buckets left out, whatever its share; two incidents alone still do not roll back.
(Here, at 100 / 10 rps, the per-bucket ratio shift test also catches the ×5 canary;
the counts test now fires on it too, which it did not before. bench-fleet's misses
were at 20 and 50 rps baselines, where the absolute ``max`` is noisier to test.)
"""

from __future__ import annotations

from tests.kpi.factory import T0_MS, Fleet, TrackLoad, canary_guard, drive, of_type

ONSET = 120  # scrapes of 5 s


def _watch(canary_at: dict[int, TrackLoad], seed: int) -> list[object]:
    """Baseline 100 rps, canary 10 rps, 0.5 % 5xx; 40 minutes; overrides per scrape index.

    (Rates stay under the shipped absolute ``max: 0.05``: this is about the judge.)
    """
    base, canary = TrackLoad(rps=100, error_rate=0.005), TrackLoad(rps=10, error_rate=0.005)

    def loads(k: int) -> dict[str, TrackLoad]:
        return {"baseline": base, "canary": canary_at.get(k, canary)}

    fleet = Fleet(app="low-app", deployment_id="low", seed=seed)
    return drive(canary_guard("low", "low-app"), fleet, loads, T0_MS + 5000, 480, 2)


def test_five_times_the_error_rate_on_a_tenth_of_the_traffic_is_rolled_back() -> None:
    bad = TrackLoad(rps=10, error_rate=0.025)
    rollbacks = of_type(_watch({k: bad for k in range(ONSET, 480)}, seed=7), "RollbackCommand")
    assert len(rollbacks) == 1 and "error_rate" in rollbacks[0].reason
    assert rollbacks[0].evidence[0].rule == "judge:counts"
    delay_s = rollbacks[0].occurred_at.timestamp() - (T0_MS + 5000 + ONSET * 5000) / 1000
    assert 0 <= delay_s <= 900


def test_two_error_incidents_on_a_low_traffic_canary_do_not_roll_it_back() -> None:
    """Two 10 s incidents (a tenth of the requests fail), five minutes apart."""
    incident = TrackLoad(rps=10, error_rate=0.1)
    out = _watch({ONSET: incident, ONSET + 60: incident}, seed=7)
    assert of_type(out, "RollbackCommand") == []


def test_a_healthy_low_traffic_canary_is_not_rolled_back() -> None:
    assert of_type(_watch({}, seed=8), "RollbackCommand") == []
