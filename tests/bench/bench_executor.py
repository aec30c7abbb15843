"""Benchmark of the rollback executor: commands/s and command -> patch latency.

Usage: ``python tests/bench/bench_executor.py [N] [RATE]`` (defaults 1000 commands,
latency phase paced at 50 commands/s; env ``N`` / ``RATE`` work too).

Everything is real except the Kubernetes API server: an embedded Tansu broker,
the ExecutorLoop (confluent-kafka consumer, ledger with fsync, results and audit
published and flushed before each offset commit), the kubernetes client, and the
in-test API server from tests/executor/fake_kube.py on loopback. Each command
rolls back its own Deployment in its own namespace (3 HTTP calls: get, list
ReplicaSets, patch).

1. throughput: N commands are queued on the rollbacks topic before the loop starts;
   commands/s = N / (last patch - first request).
2. latency: commands produced one at a time at RATE/s while the loop runs;
   latency = time the patch reached the API server - time the command was produced.

Last line: ``RESULT executor commands_per_s=... p50_ms=... p99_ms=...``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.backend import ByTargetKind  # noqa: E402
from executor.config import ExecutorConfig, KubeConfig, RetryPolicy  # noqa: E402
from executor.core import Executor  # noqa: E402
from executor.k8s_deployment import DeploymentBackend  # noqa: E402
from executor.kube import api_client  # noqa: E402
from executor.ledger import Ledger  # noqa: E402
from executor.loop import ExecutorLoop  # noqa: E402
from schemas.commands import RollbackCommand  # noqa: E402
from schemas.deploy import Target  # noqa: E402
from smartdeploy.broker import EmbeddedBroker  # noqa: E402
from smartdeploy.kafka_io import ensure_topics  # noqa: E402
from tests.executor.conftest import T0  # noqa: E402
from tests.executor.fake_kube import FakeKube, add_deployment  # noqa: E402


class TimedExecutor(Executor):
    """Records when each command reached the executor (splits broker from executor time)."""

    started: dict[str, float] = {}

    def handle(self, command: RollbackCommand):  # type: ignore[no-untyped-def]
        self.started[command.app] = time.perf_counter()
        return super().handle(command)


def make_command(i: int, phase: str) -> bytes:
    cmd = RollbackCommand(
        id=f"{phase}-{i}",
        occurred_at=T0,
        deployment_id=f"d-{phase}-{i}",
        app=f"{phase}{i}",
        target=Target(namespace=f"ns-{phase}{i}"),
        from_revision="2",
        from_version="v2",
        to_version="v1",
        reason="bench",
    )
    return cmd.model_dump_json().encode()


def wait_for_patches(fake: FakeKube, loop: ExecutorLoop, n: int, timeout_s: float) -> None:
    """Until ``n`` patches arrived; stop early if commands finish without patching."""
    deadline = time.monotonic() + timeout_s
    while len(fake.patches()) < n:
        if time.monotonic() > deadline or (loop.processed >= n and len(fake.patches()) < n):
            time.sleep(0.5)
            if len(fake.patches()) < n:
                raise SystemExit(
                    f"only {len(fake.patches())}/{n} patches for "
                    f"{loop.processed} commands processed"
                )
        time.sleep(0.02)


def main() -> None:
    n = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("N", 1000))
    rate = float(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("RATE", 50))
    n_lat = max(50, min(n, int(rate * 10)))
    with EmbeddedBroker() as broker, FakeKube() as fake, tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            add_deployment(fake, f"tp{i}", ["v1", "v2"], namespace=f"ns-tp{i}")
        for i in range(n_lat):
            add_deployment(fake, f"lat{i}", ["v1", "v2"], namespace=f"ns-lat{i}")
        cfg = ExecutorConfig(
            kafka={"bootstrap.servers": broker.bootstrap},
            rollbacks_topic="bench.rollbacks",
            overrides_topic="bench.overrides",
            actions_topic="bench.actions",
            audit_topic="bench.audit",
            dlq_topic="bench.dlq",
            session_timeout_ms=6000,
            poll_timeout_s=0.05,
            state_dir=Path(tmp),
            retry=RetryPolicy(),
        )
        ensure_topics(
            broker.bootstrap,
            ["bench.rollbacks", "bench.overrides", "bench.actions", "bench.audit", "bench.dlq"],
        )
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        for i in range(n):
            producer.produce("bench.rollbacks", make_command(i, "tp"), key=f"tp{i}")
        producer.flush(30)

        kube = KubeConfig(host=fake.url)
        backend = ByTargetKind({"deployment": DeploymentBackend(api_client(kube), kube)})
        loop = ExecutorLoop(cfg, TimedExecutor(backend, Ledger(Path(tmp)), cfg.retry))
        stop = threading.Event()
        thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
        thread.start()

        wait_for_patches(fake, loop, n, timeout_s=600)
        first = min(r.at for r in fake.requests)
        last = max(r.at for r in fake.patches())
        per_s = n / (last - first)
        print(
            f"throughput: {n} commands in {last - first:.2f}s = {per_s:.0f} commands/s "
            f"({len(fake.requests) / n:.1f} API calls per command)"
        )

        sent: dict[str, float] = {}
        for i in range(n_lat):
            t_next = time.perf_counter() + 1.0 / rate
            sent[f"lat{i}"] = time.perf_counter()
            producer.produce("bench.rollbacks", make_command(i, "lat"), key=f"lat{i}")
            producer.flush(5)
            time.sleep(max(0.0, t_next - time.perf_counter()))
        wait_for_patches(fake, loop, n + n_lat, timeout_s=120)
        stop.set()
        thread.join(30)

        lat = np.array(
            [
                (p.at - sent[p.path.rsplit("/", 1)[-1]]) * 1000
                for p in fake.patches()
                if p.path.rsplit("/", 1)[-1] in sent
            ]
        )
        own = np.array(
            [
                (p.at - TimedExecutor.started[p.path.rsplit("/", 1)[-1]]) * 1000
                for p in fake.patches()
                if p.path.rsplit("/", 1)[-1] in sent
            ]
        )
        p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
        print(
            f"latency: {len(lat)} commands at {rate:.0f}/s: command produced -> patch at "
            f"the API server p50={p50:.1f} ms p90={np.percentile(lat, 90):.1f} ms "
            f"p99={p99:.1f} ms max={lat.max():.1f} ms"
        )
        print(
            f"  of which executor (command consumed -> patch): p50={np.percentile(own, 50):.1f}"
            f" ms p99={np.percentile(own, 99):.1f} ms; the rest is broker delivery"
        )
        print(f"RESULT executor commands_per_s={per_s:.0f} p50_ms={p50:.1f} p99_ms={p99:.1f}")


if __name__ == "__main__":
    main()
