"""The embedded default stores: live rooms, and their records, in this process's memory."""

from __future__ import annotations

import json
from collections.abc import Iterator

from rooms import Room, RoomRecord


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


class InMemoryRoomRecords:
    """The embedded default record store: records in this process's memory.

    Nothing here survives the process (``durable`` is False): with it, a restart ends
    every session. It keeps the same contract as the Redis store so the server runs
    one code path, and so a room the live registry forgot (retention) can still be
    told apart from one never made while the process lives."""

    def __init__(self) -> None:
        self._records: dict[str, str] = {}

    @property
    def durable(self) -> bool:
        return False

    async def load(self, room_id: str) -> RoomRecord | None:
        stored = self._records.get(room_id)
        # Kept as JSON text, as Redis keeps it: a caller changing a loaded record
        # cannot change the stored one, and what cannot be encoded fails here too.
        return None if stored is None else dict(json.loads(stored))

    async def save(self, record: RoomRecord) -> None:
        self._records[str(record["room_id"])] = json.dumps(record, separators=(",", ":"))

    async def delete(self, room_id: str) -> None:
        self._records.pop(room_id, None)

    async def room_ids(self) -> list[str]:
        return sorted(self._records)

    async def close(self) -> None:
        return None
