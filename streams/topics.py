"""Actual topic names: the logical names of ``schemas.topics`` behind an optional prefix.

A prefix lets several stacks (or test runs) share one Kafka cluster without
seeing each other's records.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import topics as t


@dataclass(frozen=True)
class TopicNames:
    """Maps logical topic names to the names on the cluster and back.

    >>> names = TopicNames("dev.")
    >>> names.of(t.DLQ)
    'dev.smartdeploy.dlq'
    >>> names.logical("dev.smartdeploy.dlq")
    'smartdeploy.dlq'
    >>> names.group("smartdeploy-streams")
    'dev.smartdeploy-streams'
    """

    prefix: str = ""

    def of(self, logical: str) -> str:
        return self.prefix + logical

    def logical(self, actual: str) -> str:
        if self.prefix and actual.startswith(self.prefix):
            return actual[len(self.prefix):]
        return actual

    def group(self, name: str) -> str:
        return self.prefix + name

    def all(self) -> list[str]:
        return [self.of(name) for name in t.ALL_TOPICS]
