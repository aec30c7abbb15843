"""Backend that changes nothing and records what a live backend would attempt.

The default of the embedded stack: commands flow end to end, every result says
``dry_run`` and lists the planned operations, and no cluster is needed.
"""

from __future__ import annotations

from executor.backend import Outcome
from executor.intent import action_for, intended_operations
from schemas.commands import RollbackCommand


class DryRunBackend:
    """Plans operations from the command alone (no API calls)."""

    name = "dry_run"

    def execute(self, command: RollbackCommand) -> Outcome:
        return Outcome(
            "dry_run", f"dry run: would {action_for(command)}", intended_operations(command)
        )
