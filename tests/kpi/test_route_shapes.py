"""A new series' KPI columns are matched once per selector input, not once per series."""

from __future__ import annotations

import pickle

from models.kpi_watch import compile_kpis
from models.policy import build_policies
from models.window_routes import RouteTable
from schemas import Series

POLICY = build_policies({"defaults": {"kpis": [{  # a selector that also reads ``handler``
    "name": "error_rate",
    "numerator": {"metric": "http_requests_total", "match": {"code": "5..", "handler": "/api.*"}},
}]}}).default


def _series(**labels: str) -> Series:
    return Series(name="http_requests_total", labels=labels, timestamps_ms=[1], values=[1.0])


def _feeds(rt: RouteTable, rid: int) -> list[tuple[int, float]]:
    """(KPI index, column) of each target of a route."""
    tids = range(int(rt.r_off[rid]), int(rt.r_off[rid] + rt.r_nt[rid]))
    return [(rt.ring_keys[int(rt.t_ring[t])][1], rt.t_key[t]) for t in tids]


def test_series_that_differ_only_in_labels_no_selector_reads_share_one_match() -> None:
    rt = RouteTable(compile_kpis(POLICY), max_series=100)
    a = rt.resolve(_series(code="500", handler="/api/x", pod="a"), "canary")
    b = rt.resolve(_series(code="500", handler="/api/x", pod="b"), "canary")
    assert a != b and _feeds(rt, a) == _feeds(rt, b) == [(0, 0.0), (0, 1.0)]
    assert rt._by_shape is not None and len(rt._by_shape) == 1
    other = rt.resolve(_series(code="500", handler="/health", pod="a"), "canary")
    ok = rt.resolve(_series(code="200", handler="/api/x", pod="a"), "canary")
    assert _feeds(rt, other) == _feeds(rt, ok) == [(0, 1.0)]  # requests, not errors
    assert len(rt._by_shape) == 3


def test_the_le_bound_is_part_of_the_match_though_no_selector_names_it() -> None:
    rt = RouteTable(compile_kpis(build_policies(None).default), max_series=100)
    bucket = {"name": "http_request_duration_seconds_bucket", "timestamps_ms": [1],
              "values": [1.0]}
    with_le = rt.resolve(Series(labels={"le": "0.5"}, **bucket), "stable")  # type: ignore[arg-type]
    without = rt.resolve(Series(labels={}, **bucket), "stable")  # type: ignore[arg-type]
    empty = rt.resolve(Series(labels={"le": ""}, **bucket), "stable")  # type: ignore[arg-type]
    assert _feeds(rt, with_le) == [(1, 0.5)] and without == empty == 0


def test_a_table_pickled_before_the_shape_memo_still_resolves() -> None:
    rt = RouteTable(compile_kpis(POLICY), max_series=100)
    rt.resolve(_series(code="503", handler="/api/y", pod="a"), "canary")
    state = rt.__dict__.copy()
    for attr in ("_by_shape", "_shape_keys"):
        state.pop(attr)
    old = RouteTable.__new__(RouteTable)
    old.__dict__.update(pickle.loads(pickle.dumps(state)))
    rid = old.resolve(_series(code="503", handler="/api/y", pod="b"), "canary")
    assert _feeds(old, rid) == [(0, 0.0), (0, 1.0)]
