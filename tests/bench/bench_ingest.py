"""Remote-write ingest bench: our API vs Prometheus' own receiver, same payloads, same client.

Run: ``make bench-ingest`` (= ``.venv/bin/python tests/bench/bench_ingest.py``).
Env knobs: ROUNDS (3) x BENCH_S (measured seconds per round, 5) after WARMUP_S (2) each,
SOAK_S (RSS soak after the rounds, 20; ``SOAK_S=300`` for the 5-minute soak; start and
end RSS are medians of its first and last tenth, sampled every second), CONNS
(concurrent keep-alive connections, 16), SERIES (per request, 2000), TEMPLATES (bodies
per connection, 2). Rounds alternate reference / ours so host load hits both alike.
BENCH_NICE (e.g. -10, needs root) renices the whole run (both servers, broker, client)
when the host is shared with other work.

What is measured: a separate client process (asyncio, one connection per simulated
Prometheus shard, each with its own ~2,000 realistic series and advancing timestamps)
sends snappy WriteRequests back to back. Ours: uvicorn, ONE worker process, the full
API app (all routes and middleware), confluent-kafka to an embedded Tansu broker; a 204
means decoded, filtered and acknowledged by Kafka. Reference:
``prometheus --web.enable-remote-write-receiver`` (TSDB append; all cores).
samples_per_s counts samples in requests answered 2xx (kept + dropped by the
allow-list: both are done with when we answer) during the measured window; the
published (kept) rate is printed too. RSS is our server's, sampled during the soak that
follows the measurement.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from smartdeploy.broker import EmbeddedBroker, free_port  # noqa: E402
from smartdeploy.kafka_io import ensure_topics  # noqa: E402
from tests.ingest.loadgen import make_templates  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def env_f(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def serve(bootstrap: str, topic: str, port: int) -> None:
    """Our server process: the whole API app as ``smartdeploy up`` builds it (every route,
    the metrics middleware), one uvicorn worker. Only the history it reads and the
    publisher of other routes are in-memory fakes: remote-write touches neither."""
    import uvicorn

    from smartdeploy import wire_ingest
    from smartdeploy.settings import Settings
    from smartdeploy.wire_api import build_api
    from tests.api.fakes import FakeHistory, FakePublisher

    settings = Settings(kafka_bootstrap=bootstrap)
    history = FakeHistory()
    ingest = wire_ingest.build_router(settings, topic=topic)
    app = build_api(settings, history, FakePublisher(history), [(ingest, None)])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="auto",  # uvloop / httptools when installed (uvicorn[standard]), as in production
        http="auto",
        access_log=False,
        log_level="warning",
        workers=1,
    )


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pids: list[int]) -> float:
    """user + system CPU seconds of these processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def drive(
    port: int, phases: list[float], templates_file: str, pid: int, cpu_pids: list[int]
) -> dict[str, Any]:
    """Run the client process against ``port``; sample the server's RSS and CPU meanwhile."""
    client = subprocess.Popen(
        [sys.executable, "-m", "tests.ingest.loadgen"],
        cwd=ROOT,
        env=ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdin and client.stdout
    args = {
        "port": port,
        "path": "/api/v1/write",
        "phases": phases,
        "ts0": int(time.time() * 1000),
        "templates_file": templates_file,
    }
    client.stdin.write(json.dumps(args) + "\n")
    client.stdin.flush()
    bounds = json.loads(client.stdout.readline())["phases"]
    while time.monotonic() < bounds[1]:  # CPU is counted over the measured phases only
        time.sleep(0.01)
    cpu0 = cpu_s(cpu_pids)
    rss: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            rss.append((time.monotonic(), rss_mb(pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    counts = json.loads(client.stdout.readline())
    cpu = cpu_s(cpu_pids) - cpu0
    stop.set()
    client.wait(30)
    return {"bounds": bounds, "counts": counts, "rss": rss, "cpu_s": cpu}


def stop_proc(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def our_server() -> Iterator[tuple[int, int, int]]:
    """(port, pid, broker pid) of our API (one uvicorn worker) on a fresh embedded broker."""
    with EmbeddedBroker() as broker:
        topic = f"bench-metrics-{os.getpid()}"
        ensure_topics(broker.bootstrap, [topic], partitions=4)
        port = free_port()
        code = (
            "from tests.bench.bench_ingest import serve; "
            f"serve({broker.bootstrap!r}, {topic!r}, {port})"
        )
        server = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=ENV)
        try:
            wait_http(f"http://127.0.0.1:{port}/v1/ingest/stats")
            yield port, server.pid, broker.pid
        finally:
            stop_proc(server)


@contextlib.contextmanager
def prometheus(tmp: Path) -> Iterator[tuple[int, int]]:
    """(port, pid) of ``prometheus --web.enable-remote-write-receiver``; its TSDB is on
    tmpfs when there is one (our broker keeps its log in memory too)."""
    port = free_port()
    cfg = tmp / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1h\n")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready")
        yield port, proc.pid
    finally:
        stop_proc(proc)


def main() -> None:
    if os.environ.get("BENCH_NICE"):  # every process of the run inherits it, ours and theirs
        os.nice(int(os.environ["BENCH_NICE"]))
    bench, warmup, soak = env_f("BENCH_S", 5), env_f("WARMUP_S", 2), env_f("SOAK_S", 20)
    rounds, conns = int(env_f("ROUNDS", 3)), int(env_f("CONNS", 16))
    series, per_conn = int(env_f("SERIES", 2000)), int(env_f("TEMPLATES", 2))
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=shm))
    got: dict[str, list[dict[str, Any]]] = {"ours": [], "reference": []}
    try:
        t0 = time.time()
        templates = make_templates(conns, per_conn, series)
        templates_file = str(tmp / "templates.pkl")
        Path(templates_file).write_bytes(pickle.dumps(templates))
        print(
            f"payloads: {conns} connections x {per_conn} bodies x {series} series, "
            f"{len(templates[0][0].body) / 1024:.0f} KiB snappy each ({time.time() - t0:.1f}s)"
        )
        with prometheus(tmp) as (ref_port, ref_pid), our_server() as (port, pid, broker_pid):
            targets = {
                "reference": (ref_port, ref_pid, [ref_pid]),
                "ours": (port, pid, [pid, broker_pid]),
            }
            for r in range(rounds):  # interleaved, so load drift on the host hits both alike
                for name, (p, q, cpu_pids) in targets.items():
                    run = drive(p, [warmup, bench], templates_file, q, cpu_pids)
                    res = {**run["counts"][0], "cpu_s": run["cpu_s"]}
                    got[name].append(res)
                    print(
                        f"round {r + 1} {name}: {res['ok_samples'] / bench:.0f} samples/s, "
                        f"statuses {res['statuses']}",
                        flush=True,
                    )
            stats = httpx.get(f"http://127.0.0.1:{port}/v1/ingest/stats").json()
            soaked = drive(port, [1, soak], templates_file, pid, [pid]) if soak > 0 else None
            broker_rss = rss_mb(broker_pid)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ours_rate = sum(c["ok_samples"] for c in got["ours"]) / (bench * rounds)
    ref_rate = sum(c["ok_samples"] for c in got["reference"]) / (bench * rounds)
    for name, runs in got.items():
        cpu, n = sum(c["cpu_s"] for c in runs), sum(c["ok_samples"] for c in runs)
        what = "API process + broker" if name == "ours" else "prometheus"
        print(
            f"{name}: {1e6 * cpu / max(n, 1):.2f} us CPU per sample "
            f"({what}, {cpu / (bench * rounds):.2f} cores busy)"
        )
    total = stats["accepted_samples"] + stats["dropped_samples"]
    share = stats["accepted_samples"] / max(total, 1)
    print(
        f"ours after the rounds: {stats}; kept by the allow-list {share:.2f} "
        f"-> published ~{ours_rate * share:.0f} samples/s to Kafka"
    )
    start = end = 0.0
    if soaked:
        rss = [r for t, r in soaked["rss"] if t >= soaked["bounds"][1]]
        # RSS moves with the requests in flight (bodies, decode buffers, producer queue):
        # start/end are medians of the first and last tenth of the soak, not single samples
        tenth = max(1, len(rss) // 10)
        start, end = statistics.median(rss[:tenth]), statistics.median(rss[-tenth:])
        c = soaked["counts"][0]
        print(
            f"soak {soak:.0f}s: {c['ok_samples'] / soak:.0f} samples/s, statuses {c['statuses']}, "
            f"rss first/min/max/last {rss[0]:.1f}/{min(rss):.1f}/{max(rss):.1f}/{rss[-1]:.1f} MB, "
            f"median of first/last tenth {start:.1f}/{end:.1f} MB, "
            f"drift {100 * (end - start) / start:+.1f}%; broker RSS {broker_rss:.0f} MB"
        )
    print(
        f"RESULT ingest samples_per_s={ours_rate:.0f} reference_per_s={ref_rate:.0f} "
        f"ratio={ours_rate / max(ref_rate, 1):.2f} rss_mb_start={start:.1f} rss_mb_end={end:.1f}"
    )


if __name__ == "__main__":
    main()
