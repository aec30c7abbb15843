"""Benchmark of the history store on embedded ClickHouse (chdb): insert throughput,
re-delivery cost, and API query latency at a realistic size.

    .venv/bin/python -m tests.history.bench_history [--deployments 20000]

Prints figures; the last line is ``RESULT history ...``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from smartdeploy.history import HistoryStore
from tests.history.factory import T0, lifecycle, override_and_audit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deployments", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    records = []
    for i in range(args.deployments):
        records += lifecycle(
            f"b{i:06d}",
            app=f"app{i % 50}",
            start=T0 + timedelta(minutes=i),
            outcome=("succeeded", "failed", "rolled_back", None)[i % 4],
            rollback=i % 4 == 2,
        )
        if i % 10 == 0:
            records += override_and_audit(f"b{i:06d}", T0 + timedelta(minutes=i, seconds=5))
    with tempfile.TemporaryDirectory() as tmp:
        store = HistoryStore(f"chdb://{Path(tmp) / 'chdb'}").open()
        try:
            store.insert(records[:1])  # warm-up: clickhouse-connect imports lazily on 1st insert
            t = time.perf_counter()
            for k in range(0, len(records), args.batch):
                store.insert(records[k : k + args.batch])
            insert_s = time.perf_counter() - t
            t = time.perf_counter()
            for k in range(0, len(records) // 10, args.batch):
                store.insert(records[k : k + args.batch][::-1])  # re-delivery, new batches
            redeliver_s = time.perf_counter() - t
            lat: dict[str, list[float]] = {
                k: [] for k in ("list", "list_app", "page3", "get", "audit")
            }
            for j in range(20):
                t = time.perf_counter()
                page = store.list_deployments(limit=50)
                lat["list"].append(time.perf_counter() - t)
                t = time.perf_counter()
                store.list_deployments(app=f"app{j}", outcome="failed", limit=50)
                lat["list_app"].append(time.perf_counter() - t)
                t = time.perf_counter()
                store.list_deployments(
                    limit=50, cursor=store.list_deployments(limit=50, cursor=page.next).next
                )
                lat["page3"].append((time.perf_counter() - t) / 2)
                t = time.perf_counter()
                item = store.get_deployment(f"b{(j * 997) % args.deployments:06d}")
                lat["get"].append(time.perf_counter() - t)
                assert item is not None and item["timeline"]
                t = time.perf_counter()
                store.list_audit(limit=50)
                lat["audit"].append(time.perf_counter() - t)
        finally:
            store.close()
    rate = len(records) / insert_s
    print(f"records={len(records)} deployments={args.deployments} batch={args.batch}")
    print(
        f"insert: {insert_s:.2f}s = {rate:,.0f} records/s; re-delivery of 10%: {redeliver_s:.2f}s"
    )
    med = {k: statistics.median(v) * 1000 for k, v in lat.items()}
    for name, ms in med.items():
        print(f"{name}: median {ms:.1f} ms")
    print(
        f"RESULT history records_per_s={rate:.0f} list_ms={med['list']:.1f} "
        f"list_filtered_ms={med['list_app']:.1f} get_ms={med['get']:.1f} "
        f"audit_ms={med['audit']:.1f}"
    )


if __name__ == "__main__":
    main()
