"""Local record of executed command ids: the fast path of "execute once".

One JSON line per finished command (its ActionResult), appended (and flushed to
the OS) when the command finishes; ``sync()`` fsyncs, and the loop calls it once per
batch before publishing results and committing offsets (a group commit: the same
guarantee relative to the offset commit as an fsync per record, at one disk flush
per batch instead of one per command). A re-delivered command
found here is answered with the same stored result (same id, so downstream
deduplicates) without touching the target. The target itself remains the
authority (a crash between patch and this write is caught by the backends'
checks); this file only saves API calls and covers backends that cannot be read
(webhook, dry-run).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import ValidationError

from schemas.commands import ActionResult

log = logging.getLogger(__name__)


class Ledger:
    """Append-only ``executed.jsonl`` under the executor's state directory."""

    def __init__(self, state_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "executed.jsonl"
        self._results: dict[str, ActionResult] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    result = ActionResult.model_validate_json(line)
                except ValidationError:  # a torn last line after a crash
                    log.warning("ignoring unreadable ledger line in %s", self.path)
                    continue
                self._results[result.command_id] = result
        self._file = self.path.open("a", encoding="utf-8")
        self._dirty = False
        if self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n"):
            self._file.write("\n")  # terminate a torn line so the next record parses

    def __len__(self) -> int:
        return len(self._results)

    def get(self, command_id: str) -> ActionResult | None:
        return self._results.get(command_id)

    def record(self, result: ActionResult) -> None:
        self._file.write(result.model_dump_json() + "\n")
        self._file.flush()
        self._dirty = True
        self._results[result.command_id] = result

    def sync(self) -> None:
        """Make every recorded line durable (before offsets covering it are committed)."""
        if self._dirty:
            os.fsync(self._file.fileno())
            self._dirty = False

    def close(self) -> None:
        self.sync()
        self._file.close()
