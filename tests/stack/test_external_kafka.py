"""``smartdeploy up`` with SMARTDEPLOY_KAFKA_BOOTSTRAP set uses that Kafka and starts no broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from smartdeploy.broker import free_port
from tests.stack.conftest import _wait_healthy
from tests.stack.test_embedded_stack import _children, _pids_with


def test_up_with_external_kafka_starts_no_broker(kafka_bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTDEPLOY_")}
    env.update(
        {
            "SMARTDEPLOY_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "SMARTDEPLOY_DATA_DIR": str(tmp_path / "var"),
            "SMARTDEPLOY_API_PORT": str(port),
            "SMARTDEPLOY_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "SMARTDEPLOY_HISTORY_GROUP_ID": f"history-{port}",
        }
    )
    tansu_before = set(_pids_with("tansu"))
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartdeploy.cli", "up"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc, log, 180)
        assert set(_pids_with("tansu")) == tansu_before
        assert not [p for p in _children(proc.pid) if "tansu" in _cmdline(p)]
        assert f"using Kafka at {kafka_bootstrap}" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 0, log.read_text()[-3000:]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
