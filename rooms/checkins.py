"""The discreet "please check in with me": a member tells only the facilitators that
they are struggling. Nobody else learns of it, not even that it exists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CheckInRequest:
    participant_id: str
    requested_at: float  # epoch seconds: facilitators see how long someone has waited


class CheckIns:
    """Open requests, oldest first; one per person."""

    def __init__(self) -> None:
        self._open: dict[str, CheckInRequest] = {}

    def request(self, participant_id: str, at: float) -> CheckInRequest | None:
        """Open a request; None when this person has one open already (the first time
        stands: it says how long they have waited)."""
        if participant_id in self._open:
            return None
        self._open[participant_id] = request = CheckInRequest(participant_id, at)
        return request

    def close(self, participant_id: str) -> bool:
        """Close this person's request (cancelled, answered, or they left); True if one was open."""
        return self._open.pop(participant_id, None) is not None

    def of(self, participant_id: str) -> CheckInRequest | None:
        return self._open.get(participant_id)

    def clear(self) -> None:
        self._open.clear()

    def __iter__(self) -> Iterator[CheckInRequest]:
        return iter(tuple(self._open.values()))

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._open

    def __len__(self) -> int:
        return len(self._open)
