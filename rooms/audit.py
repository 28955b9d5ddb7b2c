"""The append-only record of what facilitators (and the system) did in a session.

Ids and action names only: no display names, no chat text, no content.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: float
    actor_id: str | None  # None: the system (the clock, an operator)
    target_id: str | None
    action: str
    reason: str | None = None  # an operator's stated reason for ending a session


class AuditTrail:
    def __init__(self) -> None:
        self._records: list[AuditRecord] = []

    def record(
        self,
        at: float,
        actor_id: str | None,
        target_id: str | None,
        action: str,
        reason: str | None = None,
    ) -> None:
        self._records.append(AuditRecord(at, actor_id, target_id, action, reason))

    def __iter__(self) -> Iterator[AuditRecord]:
        return iter(tuple(self._records))

    def __len__(self) -> int:
        return len(self._records)
