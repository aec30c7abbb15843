"""``smartdeploy replay``: deterministic, and it reaches the same decisions as live."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import topics as t


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartdeploy.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("replay")
    path = work / "demo.jsonl"
    res = _cli("record-demo", str(path), "--minutes", "40", cwd=work)
    assert res.returncode == 0, res.stderr
    return path


def test_replay_twice_gives_byte_identical_output(recorded: Path) -> None:
    work = recorded.parent
    a, b = work / "a.jsonl", work / "b.jsonl"
    for out in (a, b):
        res = _cli("replay", str(recorded), "--out", str(out), cwd=work)
        assert res.returncode == 0, res.stderr
    assert a.read_bytes() == b.read_bytes()
    assert a.stat().st_size > 0


def test_replay_rolls_back_the_bad_versions_only(recorded: Path) -> None:
    work = recorded.parent
    out = work / "c.jsonl"
    assert _cli("replay", str(recorded), "--out", str(out), cwd=work).returncode == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    rolled = {x["value"]["deployment_id"] for x in lines if x["topic"] == t.ROLLBACKS}
    assert {"checkout-1.8.0", "payments-3.1.0"} <= rolled
    assert not rolled & {"catalog-2.3.0", "search-5.0.1"}
    predicted = {x["value"]["deployment_id"] for x in lines if x["topic"] == t.PREDICTIONS}
    decided = {x["value"]["deployment_id"] for x in lines if x["topic"] == t.DECISIONS}
    assert "checkout-1.8.0" in predicted and "checkout-1.8.0" in decided


def test_replay_sends_unparseable_lines_to_the_dlq(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('not json\n{"type": "deployment.requested", "app": "x"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = _cli("replay", str(src), "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    dead = [json.loads(x) for x in out.read_text().splitlines()]
    assert [d["topic"] for d in dead] == [t.DLQ, t.DLQ]
    assert "deployment_id" in dead[1]["value"]["error"]
