"""A fresh embedded ClickHouse (chdb) history store per test.

chdb allows one open path per process at a time, so every store is closed at
teardown; other areas' tests can then open their own paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smartdeploy.history import HistoryStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    s = HistoryStore(f"chdb://{tmp_path / 'chdb'}").open()
    try:
        yield s
    finally:
        s.close()
