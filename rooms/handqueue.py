"""Raised hands, strictly first come, first served."""

from __future__ import annotations

from collections.abc import Iterator


class HandQueue:
    def __init__(self) -> None:
        self._order: list[str] = []

    def raise_hand(self, participant_id: str) -> bool:
        """Join the end of the queue; False if the hand is already up (keeps its place)."""
        if participant_id in self._order:
            return False
        self._order.append(participant_id)
        return True

    def lower_hand(self, participant_id: str) -> bool:
        if participant_id not in self._order:
            return False
        self._order.remove(participant_id)
        return True

    def position(self, participant_id: str) -> int | None:
        """1-based place in the queue."""
        try:
            return self._order.index(participant_id) + 1
        except ValueError:
            return None

    def next(self) -> str | None:
        return self._order[0] if self._order else None

    def clear(self) -> None:
        self._order.clear()

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._order

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._order))

    def __len__(self) -> int:
        return len(self._order)
