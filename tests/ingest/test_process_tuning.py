"""Process-level tuning the ingest applies when its router is built."""

from __future__ import annotations

import subprocess
import sys


def test_building_the_router_caps_malloc_arenas_and_lowers_the_gil_switch_interval() -> None:
    """Run in a fresh interpreter: both settings are process-wide."""
    code = (
        "import sys\n"
        "from unittest import mock\n"
        "import smartdeploy.wire_ingest as w\n"
        "from smartdeploy.settings import Settings\n"
        "calls = []\n"
        "real = w.cap_malloc_arenas\n"
        "with mock.patch.object(w, 'cap_malloc_arenas', lambda: calls.append(real()) or True):\n"
        "    w.build_router(Settings(kafka_bootstrap='127.0.0.1:1'))\n"
        "print(calls, sys.getswitchinterval())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out[0] == "[True]"  # glibc accepted M_ARENA_MAX
    assert float(out[1]) <= 0.001
