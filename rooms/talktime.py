"""Talk-time balance for facilitators: who has not spoken yet and relative shares.

Not a score: no ranking, no grades, and it lives only as long as the session.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TalkShare:
    participant_id: str
    share: float  # of all speaking time in the session so far, 0..1
    has_spoken: bool


@dataclass(frozen=True, slots=True)
class TalkBalance:
    shares: tuple[TalkShare, ...]
    not_yet_spoken: tuple[str, ...]


class TalkTime:
    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._speaking_since: dict[str, float] = {}

    def is_speaking(self, participant_id: str) -> bool:
        return participant_id in self._speaking_since

    def speaking(self) -> tuple[str, ...]:
        return tuple(self._speaking_since)

    def start(self, participant_id: str, now: float) -> bool:
        if participant_id in self._speaking_since:
            return False
        self._speaking_since[participant_id] = now
        return True

    def stop(self, participant_id: str, now: float) -> bool:
        started = self._speaking_since.pop(participant_id, None)
        if started is None:
            return False
        self._seconds[participant_id] = self._seconds.get(participant_id, 0.0) + max(
            0.0, now - started
        )
        return True

    def seconds(self, participant_id: str, now: float) -> float:
        ongoing = self._speaking_since.get(participant_id)
        extra = now - ongoing if ongoing is not None else 0.0
        return self._seconds.get(participant_id, 0.0) + extra

    def balance(self, present: list[str], now: float) -> TalkBalance:
        seconds = {pid: self.seconds(pid, now) for pid in present}
        total = sum(seconds.values())
        shares = tuple(
            TalkShare(pid, (s / total) if total > 0 else 0.0, s > 0) for pid, s in seconds.items()
        )
        return TalkBalance(shares, tuple(pid for pid, s in seconds.items() if s <= 0))

    def clear(self) -> None:
        self._seconds.clear()
        self._speaking_since.clear()
