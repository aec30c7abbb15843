"""One real ``smartdeploy up`` (own embedded broker, chdb in a temp dir) per module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from smartdeploy.broker import free_port

TOKEN = "op-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class RunningStack:
    proc: subprocess.Popen[bytes]
    api: str
    bootstrap: str
    data_dir: Path
    log: Path


def _wait_healthy(api: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"smartdeploy up exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{api}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"stack not ready after {timeout_s}s:\n{log.read_text()[-5000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    data = tmp_path_factory.mktemp("stack")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTDEPLOY_")}
    env.update(
        {
            "SMARTDEPLOY_DATA_DIR": str(data / "var"),
            "SMARTDEPLOY_API_PORT": str(port),
            "SMARTDEPLOY_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "SMARTDEPLOY_KAFKA_PARTITIONS": "2",
            "SMARTDEPLOY_API_TOKENS": json.dumps({TOKEN: "operator:olga"}),
        }
    )
    log = data / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartdeploy.cli", "up"],
            cwd=data,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(api, proc, log, 180)
        info = json.loads((data / "var" / "stack.json").read_text())
        yield RunningStack(proc, api, info["kafka_bootstrap"], data / "var", log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
