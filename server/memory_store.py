"""The embedded default store: rooms in this process's memory."""

from __future__ import annotations

from collections.abc import Iterator

from rooms import Room


class InMemoryRoomStore:
    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}

    def get(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def add(self, room: Room) -> None:
        if room.room_id in self._rooms:
            raise KeyError(f"room {room.room_id} exists")
        self._rooms[room.room_id] = room

    def discard(self, room_id: str) -> None:
        self._rooms.pop(room_id, None)

    def __iter__(self) -> Iterator[Room]:
        return iter(list(self._rooms.values()))

    def __len__(self) -> int:
        return len(self._rooms)
