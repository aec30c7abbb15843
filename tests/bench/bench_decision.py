"""Decision latency on the embedded stack, and the guard's window throughput.

Run: ``.venv/bin/python tests/bench/bench_decision.py [--trials 200] [--concurrency 1]``

1. **Latency.** Starts a real ``smartdeploy up`` (own Tansu broker, Faust worker, chdb
   history, API) in a temp dir. Each trial is a canary deployment of its own app
   (``tests/bench/decision_load.py``): deploy events go to ``deploy.events`` with
   confluent-kafka, then remote-write bodies (snappy protobuf, two scrapes per series)
   go to ``POST /api/v1/write``: healthy, then a 5xx jump on the canary sustained for
   the default policy's ``for: 30s`` in event time (event time is compressed: bodies
   are sent as fast as the API answers). Before the body that completes the breach,
   the trial waits for the Verdict of the previous body, so the timed body does not
   queue behind its own predecessors (other trials' bodies do, with ``--concurrency``).
   Latency = local receive time of the ``RollbackCommand`` on ``smartdeploy.rollbacks``
   minus the time the client got the HTTP 204 for the timed body, both from
   ``time.perf_counter()`` in this process (the consumer fetches with
   ``fetch.wait.max.ms=5`` from partitions assigned at their end offsets). The broker
   timestamp (the worker producer's CreateTime, ms) minus the 204 wall time is printed
   as a second figure. Each live rollback must have the id and event time the
   in-process guard predicted.
2. **Throughput.** Samples/s through the pure ``models.guard.DeploymentGuard`` on one
   core: many watched canaries, per-app ``MetricBatch``es of KPI series (already
   parsed, as the worker hands them over), ``--samples-per-series`` scrapes each
   (default 2: one remote-write flush of 10 s; ``--sweep`` adds 1, 10 and 60).
   CPU time of the timed loop only; the load is healthy, so every window is evaluated.
   Median of ``--tp-rounds``; also logged: the numpy windows and the windows alone (no
   ticks) on the same load, alternating (``tests/bench/guard_load.py``).

Profiling: the stack's pid is logged (``py-spy record -p PID``); ``--up-cmd`` replaces the
stack command (to try a setting without editing code); ``--dump`` writes each trial as JSON.

Last line: ``RESULT decision p50_ms=<x> p99_ms=<x> samples_per_s=<x>``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
from confluent_kafka import Consumer, Producer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from schemas import topics as t  # noqa: E402
from smartdeploy.broker import free_port  # noqa: E402
from tests.bench.decision_load import Trial, build_trial  # noqa: E402
from tests.bench.guard_load import report  # noqa: E402

HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the stack
@contextlib.contextmanager
def running_stack(root: Path, partitions: int | None, up_cmd: list[str]
                  ) -> Iterator[tuple[str, str]]:
    """``smartdeploy up`` as a subprocess; yields (api url, kafka bootstrap); always stopped."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTDEPLOY_")}
    env.update({"SMARTDEPLOY_DATA_DIR": str(root / "var"), "SMARTDEPLOY_API_PORT": str(port),
                "SMARTDEPLOY_KAFKA_SESSION_TIMEOUT_MS": "6000"})
    if partitions:
        env["SMARTDEPLOY_KAFKA_PARTITIONS"] = str(partitions)
    logfile = root / "up.log"
    with logfile.open("wb") as out:
        proc = subprocess.Popen(up_cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"smartdeploy up exited {proc.returncode}:\n"
                                   f"{logfile.read_text()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"stack not ready:\n{logfile.read_text()[-4000:]}")
            time.sleep(0.3)
        info = json.loads((root / "var" / "stack.json").read_text())
        log(f"stack ready: api={api} kafka={info['kafka_bootstrap']} pid={proc.pid}")
        yield api, info["kafka_bootstrap"]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
        log(f"stack stopped (exit {proc.returncode}); log: {logfile}")


# ---------------------------------------------------------------- the watcher
@dataclass
class Seen:
    local_s: float  # perf_counter when this process received it
    broker_ms: int  # the message timestamp
    doc: dict  # type: ignore[type-arg]


@dataclass
class Watcher:
    """Receives Verdicts and RollbackCommands from the partitions' ends on, by id."""

    bootstrap: str
    seen: dict[str, Seen] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": f"bench-decision-{time.time_ns()}",
            "enable.auto.commit": False, "fetch.wait.max.ms": 5, "session.timeout.ms": 6000})
        tps = []
        for topic in (t.ROLLBACKS, t.VERDICTS):
            meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
            for p in meta.partitions:
                _lo, hi = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                tps.append(TopicPartition(topic, p, hi))
        self.consumer.assign(tps)
        self.thread = threading.Thread(target=self._run, name="watcher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            msg = self.consumer.poll(0.05)  # returns at the first message (consume() batches)
            now = time.perf_counter()
            if msg is not None and msg.error() is None:
                doc = json.loads(msg.value())  # type: ignore[arg-type]
                with self.cond:
                    self.seen.setdefault(doc["id"], Seen(now, msg.timestamp()[1], doc))
                    self.cond.notify_all()
        self.consumer.close()

    def wait_for(self, rid: str, timeout_s: float) -> Seen | None:
        with self.cond:
            self.cond.wait_for(lambda: rid in self.seen, timeout_s)
            return self.seen.get(rid)


# ----------------------------------------------------------------- the trials
@dataclass
class Outcome:
    app: str
    latency_ms: float | None
    broker_latency_ms: float | None
    matches: bool
    accepted_wall: float = 0.0


def publish_events(producer: Producer, trial: Trial) -> None:
    for value in trial.events:
        producer.produce(t.DEPLOY_EVENTS, key=trial.app.encode(), value=value)
    producer.flush(30)


def run_trial(client: httpx.Client, producer: Producer, watcher: Watcher, trial: Trial,
              timeout_s: float) -> Outcome:
    publish_events(producer, trial)
    wait_id = trial.wait_before_trigger
    for body in trial.bodies[:-1]:
        r = client.post("/api/v1/write", content=body, headers=HEADERS)
        r.raise_for_status()
    if wait_id is not None and watcher.wait_for(wait_id, timeout_s) is None:
        log(f"  {trial.app}: verdict {wait_id} before the trigger never came")
    r = client.post("/api/v1/write", content=trial.bodies[-1], headers=HEADERS)
    accepted, accepted_wall = time.perf_counter(), time.time()
    if r.status_code != 204:
        raise RuntimeError(f"{trial.app}: remote-write answered {r.status_code}: {r.text}")
    seen = watcher.wait_for(trial.rollback_id, timeout_s)
    if seen is None:
        log(f"  {trial.app}: no RollbackCommand {trial.rollback_id} within {timeout_s}s")
        return Outcome(trial.app, None, None, False)
    at = seen.doc.get("occurred_at")
    same = (seen.doc.get("deployment_id") == trial.deployment_id and at is not None
            and datetime.fromisoformat(at) == trial.rollback_at)
    return Outcome(trial.app, (seen.local_s - accepted) * 1000,
                   seen.broker_ms - accepted_wall * 1000, same, accepted_wall)


def latency_runs(args: argparse.Namespace) -> list[Outcome]:
    tag = f"{os.getpid()}{int(time.time()) % 100000}"
    base_ms = (int(time.time()) - 3600) * 1000
    n = args.warmup + args.trials
    log(f"building {n} trials (in-process guard tells the completing body)...")
    trials = [build_trial(tag, i, base_ms + i * 1000, args.healthy) for i in range(n)]
    bodies = sum(len(tr.bodies) for tr in trials)
    log(f"  {bodies} bodies, {sum(tr.samples for tr in trials)} samples; body that completes "
        f"the breach is #{len(trials[0].bodies)} of each trial")
    root = Path(tempfile.mkdtemp(prefix="bench-decision-"))
    up_cmd = args.up_cmd.split() if args.up_cmd else [sys.executable, "-m", "smartdeploy.cli", "up"]
    with running_stack(root, args.partitions, up_cmd) as (api, bootstrap):
        outcomes = _drive(api, bootstrap, trials, args)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return outcomes


def _drive(api: str, bootstrap: str, trials: list[Trial], args: argparse.Namespace
           ) -> list[Outcome]:
    """Run the trials against a ready stack (its clients end before the stack stops)."""
    watcher = Watcher(bootstrap)
    watcher.start()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    local = threading.local()

    def one(trial: Trial) -> Outcome:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=api, timeout=30)
        return run_trial(client, producer, watcher, trial, args.timeout)

    outcomes: list[Outcome] = []
    try:
        for tr in trials[: args.warmup]:
            o = one(tr)
            log(f"  warm-up {o.app}: {o.latency_ms} ms")
        with ThreadPoolExecutor(args.concurrency) as pool:
            for k, o in enumerate(pool.map(one, trials[args.warmup:]), 1):
                outcomes.append(o)
                if k % 20 == 0 or k == args.trials:
                    done = [x.latency_ms for x in outcomes if x.latency_ms is not None]
                    log(f"  {k}/{args.trials} trials, median so far "
                        f"{np.median(done) if done else float('nan'):.1f} ms")
    finally:
        watcher.stop.set()
        watcher.thread.join(5)
        producer.flush(5)
    return outcomes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200, help="timed trials (after --warmup)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed trials first")
    ap.add_argument("--concurrency", type=int, default=1, help="trials in flight at once")
    ap.add_argument("--healthy", type=int, default=4, help="healthy bodies before the breach")
    ap.add_argument("--partitions", type=int, default=None, help="SMARTDEPLOY_KAFKA_PARTITIONS")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--tp-deployments", type=int, default=50, help="watched canaries")
    ap.add_argument("--tp-batches", type=int, default=3000,
                    help="metric batches, rotating over the deployments (60 = 10 min each)")
    ap.add_argument("--tp-rounds", type=int, default=3, help="throughput rounds (median)")
    ap.add_argument("--samples-per-series", type=int, default=2,
                    help="scrapes per series per batch for the throughput (2 = a 10 s flush)")
    ap.add_argument("--sweep", action="store_true", help="also time 1, 10 and 60 scrapes/series")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--up-cmd", default="", help="instead of `python -m smartdeploy.cli up`")
    ap.add_argument("--keep", action="store_true", help="keep the stack's temp dir (log, data)")
    ap.add_argument("--dump", default="", help="per-trial outcomes as JSON lines to this file")
    args = ap.parse_args()

    log("window throughput (pure guard, one core; numpy windows as reference, alternating)...")
    shape = (args.tp_deployments, args.tp_batches, args.samples_per_series)
    rate = report(*shape, args.tp_rounds, args.sweep, log)
    p50 = p99 = float("nan")
    if not args.skip_latency:
        outcomes = latency_runs(args)
        lat = np.array([args.timeout * 1000 if o.latency_ms is None else o.latency_ms
                        for o in outcomes])
        broker = np.array([o.broker_latency_ms for o in outcomes if o.broker_latency_ms])
        missing = sum(o.latency_ms is None for o in outcomes)
        mismatched = sum(not o.matches for o in outcomes if o.latency_ms is not None)
        p50, p99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
        log(f"latency over {len(lat)} trials (concurrency {args.concurrency}): "
            f"p50={p50:.1f} p90={np.percentile(lat, 90):.1f} p99={p99:.1f} max={lat.max():.1f} ms"
            f" (local receive); missing={missing} (counted as {args.timeout:.0f} s), "
            f"id/event-time mismatches={mismatched}")
        if args.dump:
            Path(args.dump).write_text("".join(json.dumps(o.__dict__) + "\n" for o in outcomes))
        if broker.size:
            log(f"  by broker timestamp: p50={np.percentile(broker, 50):.1f} "
                f"p99={np.percentile(broker, 99):.1f} ms")
    print(f"RESULT decision p50_ms={p50:.1f} p99_ms={p99:.1f} samples_per_s={rate:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
