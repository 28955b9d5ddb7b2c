"""Side rooms: a facilitator takes someone aside (or pairs members up for an exercise)
while the group goes on. People in a side room see and hear only each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SideRoomView:
    side_room_id: str
    participant_ids: tuple[str, ...]  # in the order they came in
    ends_at: float | None  # epoch seconds; None: until a facilitator brings them back


@dataclass(slots=True)
class _SideRoom:
    participant_ids: list[str] = field(default_factory=list)
    ends_at: float | None = None


class SideRooms:
    """Who is where: each person is in at most one side room; everyone else is in the
    main room."""

    def __init__(self) -> None:
        self._rooms: dict[str, _SideRoom] = {}
        self._where: dict[str, str] = {}
        self._opened = 0

    def open(self, participant_ids: list[str], ends_at: float | None) -> str:
        self._opened += 1
        side_room_id = f"side-{self._opened}"
        self._rooms[side_room_id] = _SideRoom(ends_at=ends_at)
        for participant_id in participant_ids:
            self.move(participant_id, side_room_id)
        return side_room_id

    def move(self, participant_id: str, side_room_id: str | None) -> bool:
        """Move someone into a side room (None: back to the main room); an emptied side
        room closes. True when something changed."""
        current = self._where.get(participant_id)
        if current == side_room_id:
            return False
        if current is not None:
            left = self._rooms[current]
            left.participant_ids.remove(participant_id)
            del self._where[participant_id]
            if not left.participant_ids:
                del self._rooms[current]
        if side_room_id is not None:
            self._rooms[side_room_id].participant_ids.append(participant_id)
            self._where[participant_id] = side_room_id
        return True

    def close(self, side_room_id: str) -> list[str]:
        """Everyone in it back to the main room; who they were."""
        room = self._rooms.pop(side_room_id)
        for participant_id in room.participant_ids:
            del self._where[participant_id]
        return room.participant_ids

    def where(self, participant_id: str) -> str | None:
        return self._where.get(participant_id)

    def exists(self, side_room_id: str) -> bool:
        return side_room_id in self._rooms

    def expired(self, now: float) -> list[str]:
        return [
            rid
            for rid, room in self._rooms.items()
            if room.ends_at is not None and now >= room.ends_at
        ]

    def ids(self) -> list[str]:
        return list(self._rooms)

    def views(self) -> tuple[SideRoomView, ...]:
        return tuple(
            SideRoomView(rid, tuple(room.participant_ids), room.ends_at)
            for rid, room in self._rooms.items()
        )

    def clear(self) -> None:
        self._rooms.clear()
        self._where.clear()

    def to_record(self) -> dict[str, Any]:
        """Who is in which side room, and the counter their ids come from (a restored
        room must not hand out an id that is still in use)."""
        return {
            "opened": self._opened,
            "rooms": [
                {"id": rid, "participant_ids": list(room.participant_ids), "ends_at": room.ends_at}
                for rid, room in self._rooms.items()
            ],
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> SideRooms:
        side_rooms = cls()
        side_rooms._opened = int(data["opened"])
        for entry in data["rooms"]:
            ends_at = entry["ends_at"]
            side_room_id = str(entry["id"])
            side_rooms._rooms[side_room_id] = _SideRoom(
                ends_at=None if ends_at is None else float(ends_at)
            )
            for participant_id in entry["participant_ids"]:
                side_rooms.move(str(participant_id), side_room_id)
        return side_rooms
