"""The floor: who is speaking now. In floor mode only the floor holder and the
facilitators can be heard, which the server enforces in its mute model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FloorView:
    mode: bool
    holder_id: str | None
    ends_at: float | None  # epoch seconds; None: no time limit


class Floor:
    def __init__(self) -> None:
        self.mode = False
        self.holder_id: str | None = None
        self.ends_at: float | None = None

    def give(self, participant_id: str, ends_at: float | None) -> None:
        self.holder_id = participant_id
        self.ends_at = ends_at

    def release(self) -> bool:
        """The floor returns to the facilitators; False if nobody held it."""
        if self.holder_id is None:
            return False
        self.holder_id = None
        self.ends_at = None
        return True

    def expired(self, now: float) -> bool:
        return self.holder_id is not None and self.ends_at is not None and now >= self.ends_at

    def view(self) -> FloorView:
        return FloorView(self.mode, self.holder_id, self.ends_at)
