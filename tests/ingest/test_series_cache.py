"""The native decoder's series cache: a series sent again must encode exactly as the first time.

The cache keys a 1.0 series by the raw bytes of its leading labels and replays the
mapping verdict and label JSON (api/ingest/_fd_cache.h). Every test compares with the
protobuf-runtime reference mapper, which has no cache.
"""

from __future__ import annotations

import threading
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.ingest.decode import LabelMap, PyMapper, make_mapper
from api.ingest.proto import WriteRequest
from tests.ingest.payloads import series_labels, write_request
from tests.ingest.test_decode import parsed

TS = 1_763_769_600_000
ALLOW = LabelMap(metric_allow=r"http_.*|container_cpu_usage_seconds_total|up")


def cached(size: int = 65536) -> Any:
    return make_mapper(ALLOW, 900_000, native=True, series_cache=size)


def reference(raw: bytes) -> Any:
    return parsed(PyMapper(ALLOW, 900_000).encode(raw, 1))


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def series_bytes(
    labels: dict[str, str], samples: list[tuple[int, float]], late: dict[str, str]
) -> bytes:
    """One TimeSeries: labels, samples, then ``late`` labels after the samples (legal
    protobuf: repeated fields may interleave), which the cache must not key on."""
    head, tail = WriteRequest().timeseries.add(), WriteRequest().timeseries.add()
    for k, v in labels.items():
        head.labels.add(name=k, value=v)
    for t, v in samples:
        head.samples.add(value=v, timestamp=t)
    for k, v in late.items():
        tail.labels.add(name=k, value=v)
    return head.SerializeToString() + tail.SerializeToString()


def request_bytes(series: list[bytes]) -> bytes:
    return b"".join(b"\x0a" + varint(len(s)) + s for s in series)


def test_a_series_sent_again_is_encoded_from_the_cache_exactly_as_the_first_time() -> None:
    mapper, labels = cached(), series_labels(2000, seed=3)
    for k in range(4):
        raw = write_request(labels, TS + k * 15_000, seed=k, nan_every=11).SerializeToString()
        assert parsed(mapper.encode(raw, 1)) == reference(raw)
    assert mapper.cached_series() == 2000  # kept and dropped series alike
    assert mapper.series_cache_hits() == 3 * 2000


def test_the_cache_is_bounded_and_replaced_when_full() -> None:
    mapper, labels = cached(size=50), series_labels(400, seed=5)
    for k in range(3):
        raw = write_request(labels, TS + k, seed=k).SerializeToString()
        assert parsed(mapper.encode(raw, 1)) == reference(raw)
        assert 0 < mapper.cached_series() <= 50


def test_labels_after_the_samples_are_never_taken_from_the_cache() -> None:
    base = {"__name__": "up", "app": "shop"}
    plain = series_bytes(base, [(TS, 1.0)], {})
    late_track = series_bytes(base, [(TS, 2.0)], {"track": "canary"})  # same leading bytes
    late_app = series_bytes(base, [(TS, 3.0)], {"app": "other"})
    mapper = cached()
    for raw in [request_bytes([plain]), request_bytes([late_track, late_app, plain])] * 2:
        assert parsed(mapper.encode(raw, 1)) == reference(raw)
    by_app, kept, _ = parsed(mapper.encode(request_bytes([late_track, late_app]), 1))
    assert kept == 2 and by_app["shop"][0]["track"] == "canary" and "other" in by_app


def test_a_series_whose_labels_extend_a_cached_one_is_not_taken_for_it() -> None:
    other = series_bytes({"__name__": "up", "app": "x"}, [(TS, 0.0)], {})
    base = {"__name__": "up", "app": "shop"}
    short = series_bytes(base, [(TS, 1.0)], {})
    longer = series_bytes({**base, "track": "canary", "zone": "b"}, [(TS, 2.0)], {})
    mapper = cached()
    for raw in (request_bytes([other, short]), request_bytes([other, longer])):
        assert parsed(mapper.encode(raw, 1)) == reference(raw)  # hint: `short` follows `other`


pool_labels = [
    *series_labels(30, seed=9),
    {"__name__": "up", "app": "a", "track": "blue"},  # dropped: unknown track
    {"__name__": "up"},  # dropped: no app
    {"__name__": "nope_total", "app": "a"},  # dropped: not allowed
    {"__name__": "up", "app": "ü-app", "track": "canary", "pod": 'p"1\\'},
]
body_st = st.lists(
    st.tuples(
        st.integers(0, len(pool_labels) - 1),
        st.lists(st.tuples(st.integers(0, 2**42), st.floats(width=64)), max_size=2),
        st.sampled_from([{}, {}, {}, {"track": "canary"}, {"zz": "late"}]),
    ),
    max_size=25,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(body_st, min_size=1, max_size=6), st.sampled_from([1, 3, 1000]))
def test_any_sequence_of_requests_encodes_as_without_cache(
    bodies: list[list[Any]], size: int
) -> None:
    mapper = cached(size)
    for body in bodies:
        raw = request_bytes([series_bytes(pool_labels[i], smp, late) for i, smp, late in body])
        assert parsed(mapper.encode(raw, 1)) == reference(raw)
    assert mapper.cached_series() <= size


def test_threads_sharing_one_cache_that_is_replaced_meanwhile_get_exact_output() -> None:
    bodies = [
        write_request(series_labels(300, seed=b), TS + b, seed=b).SerializeToString()
        for b in range(6)
    ]
    want = [reference(raw) for raw in bodies]
    mapper, start = cached(size=200), threading.Barrier(len(bodies))  # full within a request
    errors: list[str] = []

    def work(k: int) -> None:
        start.wait()
        for _ in range(15):
            if parsed(mapper.encode(bodies[k], 1)) != want[k]:
                errors.append(f"body {k}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert mapper.series_cache_hits() > 0
