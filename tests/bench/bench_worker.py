"""Worker throughput and checkpoint cost, on the real broker with the real models.

Run: ``.venv/bin/python tests/bench/bench_worker.py [--deployments 3000] [--batches 2000]``

Starts an embedded Tansu broker, pre-loads ``deploy.events`` with requested+finished
pairs over 50 apps and ``metrics`` with metric batches (20 series x 6 samples each,
canary and stable tracks of the running deployments), then starts the Faust worker
with the pipeline ``smartdeploy up`` uses (``smartdeploy.wiring.build_pipeline``)
and ``model_checkpoint_every`` as configured. Reports inputs/s from the first to
the last processed input (consume + parse + models + publish + checkpoints), the
checkpoint size and time, and the time a restart needs to resume processing.
Pass ``--fake`` to measure the runtime alone with trivial models.
Last line: ``RESULT worker inputs_per_s=... checkpoint_kb=... snapshot_ms=... checkpoint_ms=...
restart_s=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from schemas import MetricBatch, Series  # noqa: E402
from schemas import topics as t  # noqa: E402
from smartdeploy.broker import EmbeddedBroker  # noqa: E402
from smartdeploy.kafka_io import KafkaPublisher, ensure_topics  # noqa: E402
from smartdeploy.settings import Settings  # noqa: E402
from streams.app import build_worker  # noqa: E402
from tests.runtime.streams_data import lifecycle  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _batches(n: int, deployments: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        dep = f"bw-{i % max(deployments, 1)}"
        app = f"app{i % 50}"
        at = T0 + timedelta(seconds=15 * i)
        series = [
            Series(
                name=name,
                deployment_id=dep,
                track=track,
                labels={"app": app},
                timestamps_ms=[
                    int((at - timedelta(seconds=5 * k)).timestamp() * 1000) for k in range(6)
                ][::-1],
                values=[0.01 * (k + j) for k in range(6)],
            )
            for j, name in enumerate(
                (
                    "http_requests_total",
                    "http_request_duration_seconds_sum",
                    "container_cpu_usage_seconds_total",
                    "container_memory_working_set_bytes",
                    "up",
                )
            )
            for track in ("canary", "stable", "baseline", "stable")
        ]
        batch = MetricBatch(occurred_at=at, app=app, series=series)
        out.append((app, batch.model_dump_json().encode()))
    return out


async def _run(args: argparse.Namespace, bootstrap: str) -> None:
    if args.fake:
        from tests.runtime.fakes import fake_pipeline as factory
    else:
        from smartdeploy.wiring import build_pipeline

        def factory():  # type: ignore[no-untyped-def]
            return build_pipeline(settings)

    settings = Settings(
        kafka_bootstrap=bootstrap,
        data_dir=Path(tempfile.mkdtemp()),
        kafka_topic_prefix="bench.",
        kafka_partitions=args.partitions,
        model_checkpoint_every=args.every,
        kafka_session_timeout_ms=6000,
    )
    ensure_topics(settings, ["bench." + n for n in t.ALL_TOPICS], args.partitions)
    pub = KafkaPublisher(settings)
    events = [(k, ev.model_dump_json().encode()) for k, ev in lifecycle(args.deployments, "bw")]
    for key, value in events:
        pub.produce("bench." + t.DEPLOY_EVENTS, key.replace("web", "app0"), value)
    for key, value in _batches(args.batches, args.deployments):
        pub.produce("bench." + t.METRICS, key, value)
    pub.flush()
    total = len(events) + args.batches
    print(f"loaded {len(events)} deploy events + {args.batches} metric batches")

    handle = build_worker(settings, factory)
    t_start = time.perf_counter()
    await handle.start()
    first = None
    while handle.stats["inputs"] < total:
        if first is None and handle.stats["inputs"] > 0:
            first = (time.perf_counter(), handle.stats["inputs"])
        await asyncio.sleep(0.01)
    t_end = time.perf_counter()
    assert first is not None
    rate = (total - first[1]) / max(t_end - first[0], 1e-9)
    await asyncio.sleep(1.0)  # let the last in-flight checkpoint land
    sn0 = time.perf_counter()
    handle.pipeline.snapshot()  # the part that blocks the event loop
    snap_ms = (time.perf_counter() - sn0) * 1000
    ck0 = time.perf_counter()
    await handle.checkpoint()  # snapshot + outputs acknowledged + fsync'd file + commit
    ck_ms = (time.perf_counter() - ck0) * 1000
    size_kb = handle.store.path.stat().st_size / 1024
    counts = handle.stats["counts"]
    await handle.stop()
    print(
        f"join+first input {first[0] - t_start:.2f}s; {total} inputs, "
        f"{handle.checkpoints_written} checkpoints, dead letters {counts}"
    )

    # restart: a new worker on the same data dir (one more input to see it resume)
    pub.produce("bench." + t.DEPLOY_EVENTS, "app0", events[0][1].replace(b"bw-0", b"bw-x"))
    pub.flush()
    again = build_worker(settings, factory)
    r0 = time.perf_counter()
    await again.start()
    while again.stats["inputs"] <= total:
        await asyncio.sleep(0.01)
    restart_s = time.perf_counter() - r0
    await again.stop()
    print(
        f"inputs/s {rate:.0f}; checkpoint {size_kb:.0f} KiB: snapshot {snap_ms:.1f} ms "
        f"(blocks the loop), persisted in {ck_ms:.1f} ms (outputs acked + fsync + commit; "
        f"every {args.every} inputs); restart to first new input {restart_s:.2f}s "
        "(includes waiting out the previous member's session on Tansu)"
    )
    print(
        f"RESULT worker inputs_per_s={rate:.0f} checkpoint_kb={size_kb:.0f} "
        f"snapshot_ms={snap_ms:.1f} checkpoint_ms={ck_ms:.1f} restart_s={restart_s:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deployments", type=int, default=3000)
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--fake", action="store_true", help="trivial models: runtime cost only")
    args = ap.parse_args()
    with EmbeddedBroker() as broker:
        asyncio.run(_run(args, broker.bootstrap))


if __name__ == "__main__":
    main()
