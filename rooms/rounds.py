"""Go-around rounds: everyone speaks in turn, once, with an optional time per turn.

The round holds its order; the room gives the current speaker the floor. Each
participant gets exactly one turn: passing, finishing, being skipped or leaving
all use it up, and the order of those still to come never changes under them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Speakers hear a warning this long before their time is up; then the round moves on.
TURN_WARNING_S = 15.0


class RoundOrder(StrEnum):
    JOIN = "join"
    SHUFFLED = "shuffled"
    CHOSEN = "chosen"


class TurnOutcome(StrEnum):
    DONE = "done"
    PASSED = "passed"
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"
    LEFT = "left"


@dataclass(frozen=True, slots=True)
class RoundView:
    order: tuple[str, ...]  # everyone in the round, in speaking order
    current_id: str | None
    next_id: str | None
    turn_seconds: float | None
    turn_ends_at: float | None
    outcomes: tuple[tuple[str, TurnOutcome], ...]  # finished turns, in order


class GoAround:
    def __init__(self, order: list[str], turn_seconds: float | None) -> None:
        self._order = list(order)
        self._position = 0
        self.turn_seconds = turn_seconds
        self.turn_ends_at: float | None = None
        self.warned = False
        self._outcomes: list[tuple[str, TurnOutcome]] = []

    @property
    def current_id(self) -> str | None:
        return self._order[self._position] if self._position < len(self._order) else None

    @property
    def next_id(self) -> str | None:
        following = self._position + 1
        return self._order[following] if following < len(self._order) else None

    @property
    def finished(self) -> bool:
        return self._position >= len(self._order)

    def start_turn(self, now: float) -> None:
        self.warned = False
        self.turn_ends_at = None if self.turn_seconds is None else now + self.turn_seconds

    def end_turn(self, outcome: TurnOutcome, now: float) -> None:
        current = self.current_id
        if current is None:
            return
        self._outcomes.append((current, outcome))
        self._position += 1
        if not self.finished:
            self.start_turn(now)
        else:
            self.turn_ends_at = None

    def extend(self, seconds: float, now: float) -> None:
        base = self.turn_ends_at if self.turn_ends_at is not None else now
        self.turn_ends_at = base + seconds
        self.warned = False

    def add_late(self, participant_id: str) -> bool:
        """A late joiner goes to the end of the round, if they have not had a turn."""
        if participant_id in self._order:
            return False
        self._order.append(participant_id)
        return True

    def drop(self, participant_id: str, now: float) -> bool:
        """Someone left: their coming turn is skipped. True if it was their turn."""
        if participant_id == self.current_id:
            self.end_turn(TurnOutcome.LEFT, now)
            return True
        upcoming = self._order[self._position + 1 :]
        if participant_id in upcoming:
            self._order.remove(participant_id)
            self._outcomes.append((participant_id, TurnOutcome.LEFT))
        return False

    def warning_due(self, now: float) -> bool:
        return (
            not self.warned
            and self.turn_ends_at is not None
            and now >= self.turn_ends_at - TURN_WARNING_S
        )

    def time_up(self, now: float) -> bool:
        return self.turn_ends_at is not None and now >= self.turn_ends_at

    def to_record(self) -> dict[str, Any]:
        """Everything a restored room needs to carry the round on (rooms.record)."""
        return {
            "order": list(self._order),
            "position": self._position,
            "turn_seconds": self.turn_seconds,
            "turn_ends_at": self.turn_ends_at,
            "warned": self.warned,
            "outcomes": [[pid, outcome.value] for pid, outcome in self._outcomes],
        }

    @classmethod
    def from_record(
        cls,
        *,
        order: list[str],
        position: int,
        turn_seconds: float | None,
        turn_ends_at: float | None,
        warned: bool,
        outcomes: list[tuple[str, TurnOutcome]],
    ) -> GoAround:
        if not 0 <= position <= len(order):
            raise ValueError("a round's position lies within its order")
        restored = cls(order, turn_seconds)
        restored._position = position
        restored.turn_ends_at = turn_ends_at
        restored.warned = warned
        restored._outcomes = list(outcomes)
        return restored

    def view(self) -> RoundView:
        return RoundView(
            order=tuple(self._order),
            current_id=self.current_id,
            next_id=self.next_id,
            turn_seconds=self.turn_seconds,
            turn_ends_at=self.turn_ends_at,
            outcomes=tuple(self._outcomes),
        )
