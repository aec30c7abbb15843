"""The native decoder against messages built with the protobuf runtime, and its invariants."""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.ingest import decode
from api.ingest.decode import (
    DecodeError,
    LabelMap,
    PyMapper,
    batch_messages,
    make_mapper,
    occurred_at,
)
from api.ingest.proto import RequestV2, WriteRequest
from schemas.metrics import MetricBatch
from tests.ingest.payloads import request_v2, series_labels, write_request

TS = 1_763_769_600_000
ALLOW = LabelMap(metric_allow=r"http_.*|container_cpu_usage_seconds_total|up")


def native(labels: LabelMap = ALLOW, max_chunk: int = 900_000) -> Any:
    return make_mapper(labels, max_chunk, native=True)


def parsed(result: Any) -> tuple[dict[str, list[Any]], int, int]:
    chunks, kept, dropped, _ = result
    by_app: dict[str, list[Any]] = {}
    for app, series_json, _n, _ts in chunks:
        by_app.setdefault(app, []).extend(orjson.loads(series_json))
    return by_app, kept, dropped


def test_native_decoder_is_built() -> None:
    assert decode.NativeMapper is not None, "build api/ingest/_fastdecode.c (pip install -e .)"
    assert isinstance(native(), decode.NativeMapper)


@pytest.mark.parametrize("version", [1, 2])
def test_native_output_equals_protobuf_runtime_reference(version: int) -> None:
    labels = series_labels(2000, seed=7)
    msg = (write_request if version == 1 else request_v2)(labels, TS, seed=7, nan_every=13)
    raw = msg.SerializeToString()
    assert parsed(native().encode(raw, version)) == parsed(
        PyMapper(ALLOW, 900_000).encode(raw, version)
    )


def test_series_are_mapped_from_the_configured_labels() -> None:
    req = WriteRequest()
    ts = req.timeseries.add()
    for k, v in [
        ("__name__", "up"),
        ("svc", "shop"),
        ("rel", "v9"),
        ("lane", "canary"),
        ("dep", "d-1"),
        ("pod", "shop-1"),
        ("app", "other"),
    ]:
        ts.labels.add(name=k, value=v)
    ts.samples.add(value=1.0, timestamp=TS)
    ts.samples.add(value=float("nan"), timestamp=TS + 1000)
    lm = LabelMap(app="svc", version="rel", track="lane", deployment_id="dep", metric_allow="up")
    by_app, kept, dropped = parsed(native(lm).encode(req.SerializeToString(), 1))
    assert (kept, dropped) == (2, 0)
    assert by_app == {
        "shop": [
            {
                "name": "up",
                "labels": {"pod": "shop-1", "app": "other"},
                "deployment_id": "d-1",
                "version": "v9",
                "track": "canary",
                "timestamps_ms": [TS, TS + 1000],
                "values": [1.0, None],
            }
        ]
    }


@pytest.mark.parametrize(
    ("extra", "kept"),
    [
        ({"app": "a"}, 1),  # track defaults to stable
        ({"app": "a", "track": "baseline"}, 1),
        ({}, 0),  # no app label: dropped
        ({"app": ""}, 0),  # empty = absent in Prometheus
        ({"app": "a", "track": "green"}, 0),  # not a track the guard can compare
    ],
)
def test_series_without_app_or_with_unknown_track_are_dropped(
    extra: dict[str, str], kept: int
) -> None:
    req = WriteRequest()
    ts = req.timeseries.add()
    for k, v in sorted({"__name__": "up", **extra}.items()):
        ts.labels.add(name=k, value=v)
    ts.samples.add(value=1.0, timestamp=TS)
    _, got_kept, dropped = parsed(native().encode(req.SerializeToString(), 1))
    assert (got_kept, dropped) == (kept, 1 - kept)


def test_allow_list_must_match_the_whole_metric_name() -> None:
    req = WriteRequest()
    for name in ("up", "upstream_errors", "http_x"):
        ts = req.timeseries.add()
        ts.labels.add(name="__name__", value=name)
        ts.labels.add(name="app", value="a")
        ts.samples.add(value=1.0, timestamp=TS)
    by_app, kept, dropped = parsed(native().encode(req.SerializeToString(), 1))
    assert [s["name"] for s in by_app["a"]] == ["up", "http_x"] and (kept, dropped) == (2, 1)


def test_messages_validate_as_metric_batches_with_newest_sample_time() -> None:
    labels = series_labels(500, seed=1)
    chunks = native().encode(write_request(labels, TS, nan_every=5).SerializeToString(), 1)[0]
    for (app, _, n, _), (key, value, n2) in zip(chunks, batch_messages(chunks, "d"), strict=True):
        batch = MetricBatch.model_validate_json(value)
        assert (batch.app, batch.sample_count(), n2) == (app, n, n)
        assert key == app
        assert batch.occurred_at.timestamp() * 1000 == TS
        assert any(v is None for s in batch.series for v in s.values)


def test_large_apps_are_split_into_chunks_under_the_size_limit() -> None:
    labels = [{**lb, "app": "one"} for lb in series_labels(2000, seed=2)]
    raw = write_request(labels, TS).SerializeToString()
    chunks, kept, dropped, _ = native(max_chunk=20_000).encode(raw, 1)
    assert len(chunks) > 5 and {c[0] for c in chunks} == {"one"}
    assert all(len(c[1]) < 20_000 + 2_000 for c in chunks)
    assert sum(c[2] for c in chunks) == kept
    assert parsed((chunks, kept, dropped, 0)) == parsed(native().encode(raw, 1))


def test_v2_refs_outside_the_symbol_table_are_rejected() -> None:
    req = RequestV2()
    req.symbols.extend(["", "__name__", "up"])
    ts = req.timeseries.add()
    ts.labels_refs.extend([1, 2, 3, 4])
    ts.samples.add(value=1.0, timestamp=TS)
    with pytest.raises(ValueError, match="symbols"):
        native().encode(req.SerializeToString(), 2)


def test_invalid_utf8_in_a_kept_series_is_rejected() -> None:
    raw = write_request([{"__name__": "up", "app": "a", "pod": "x"}], TS).SerializeToString()
    bad = raw.replace(b"\x03pod", b"\x03p\xffd")
    with pytest.raises(ValueError, match="UTF-8"):
        native().encode(bad, 1)
    with pytest.raises(DecodeError):
        PyMapper(ALLOW, 900_000).encode(bad, 1)


label_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
series_st = st.lists(
    st.tuples(
        st.dictionaries(label_text, label_text, max_size=4),
        st.sampled_from(["up", "http_x", "nope", ""]),
        st.sampled_from(["a", "b", "", "ü-app"]),
        st.sampled_from(["", "stable", "canary", "baseline", "blue"]),
        st.lists(st.tuples(st.integers(-(2**62), 2**62), st.floats(width=64)), max_size=3),
    ),
    max_size=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series_st, st.sampled_from([1, 2]))
def test_native_and_reference_agree_on_arbitrary_series(series: list[Any], version: int) -> None:
    labels, samples = [], []
    for extra, name, app, track, smp in series:
        lb = {k: v for k, v in extra.items() if k and v}
        lb.update({k: v for k, v in (("__name__", name), ("app", app), ("track", track)) if v})
        labels.append(dict(sorted(lb.items())))
        samples.append(smp)
    msg = (write_request if version == 1 else request_v2)(labels, 0)
    for ts, smp in zip(msg.timeseries, samples, strict=True):
        del ts.samples[:]
        for t, v in smp:
            ts.samples.add(value=v, timestamp=t)
    raw = msg.SerializeToString()
    got = parsed(native().encode(raw, version))
    want = parsed(PyMapper(ALLOW, 900_000).encode(raw, version))
    assert got == want
    assert got[1] + got[2] == sum(len(s) for s in samples)
    finite = [v for s in samples for _, v in s if math.isfinite(v)]
    out = [v for rows in got[0].values() for r in rows for v in r["values"] if v is not None]
    assert set(out) <= set(finite)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_bodies_raise_value_error_never_crash(data: st.DataObject) -> None:
    raw = bytearray(write_request(series_labels(20, seed=4), TS).SerializeToString())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for version in (1, 2):
        with contextlib.suppress(ValueError):  # anything else (or a crash) fails the test
            native().encode(bytes(raw[:cut]), version)


@pytest.mark.parametrize("yields", [False, True], ids=["plain-regex", "allow-yields-gil"])
def test_one_native_mapper_encodes_from_many_threads_at_once(yields: bool) -> None:
    """Decode threads share one Mapper: its name cache is filled while others read it.

    The allow-list predicate is Python, and the GIL can pass to another thread while it
    runs (forced here with ``time.sleep(0)``): that thread may cache the same name.
    """
    import threading
    import time

    bodies, names = [], set()
    for b in range(8):
        req = WriteRequest()
        for i in range(400):  # overlapping new names per body: concurrent cache misses
            ts = req.timeseries.add()
            kind = "http_requests_total" if i % 3 else "other_metric"
            names.add(name := f"{kind}_{(i * 7 + b * 50) % 600}")
            ts.labels.add(name="__name__", value=name)
            ts.labels.add(name="app", value=f"app-{i % 5}")
            ts.samples.add(value=float(i), timestamp=TS + b)
        bodies.append(req.SerializeToString())
    allow = LabelMap(metric_allow=r"http_.*")
    want = [parsed(PyMapper(allow, 900_000).encode(body, 1)) for body in bodies]
    predicate = allow.allow()

    def slow_allow(name: str) -> bool:
        time.sleep(0)  # releases the GIL: other decode threads run meanwhile
        return predicate(name)

    for _ in range(5):
        mapper = (
            decode.NativeMapper("app", "version", "track", "deployment_id", slow_allow, 900_000)
            if yields
            else native(allow)
        )
        start = threading.Barrier(len(bodies))
        got: list[Any] = [None] * len(bodies)

        def work(k: int, mapper: Any = mapper, start: Any = start, got: Any = got) -> None:
            start.wait()
            got[k] = parsed(mapper.encode(bodies[k], 1))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got == want
        assert mapper.cached_names() == len(names)  # each distinct name cached exactly once


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**13), 253_402_300_799_999) | st.integers(-(2**63), 2**63))
def test_occurred_at_is_the_exact_iso_time_of_the_millisecond(ms: int) -> None:
    try:
        want = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()
    except OverflowError:
        with pytest.raises(DecodeError):
            occurred_at(ms)
        return
    assert occurred_at(ms) == want
