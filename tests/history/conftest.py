"""A fresh embedded ClickHouse (chdb) history store per test.

chdb allows one open path per process at a time, so every store is closed at
teardown; other areas' tests can then open their own paths.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smartdeploy.history import HistoryStore, HistoryWriter


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    s = HistoryStore(f"chdb://{tmp_path / 'chdb'}").open()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def run_writer() -> Iterator[Callable[[HistoryWriter], HistoryWriter]]:
    started: list[tuple[threading.Thread, threading.Event]] = []

    def _run(writer: HistoryWriter) -> HistoryWriter:
        stop = threading.Event()
        thread = threading.Thread(target=writer.run, args=(stop,), daemon=True)
        thread.start()
        started.append((thread, stop))
        return writer

    yield _run
    for thread, stop in started:
        stop.set()
        thread.join(30)
