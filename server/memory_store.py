"""The embedded default stores: live rooms, and their records, in this process's memory."""

from __future__ import annotations

import json
import time
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
    every session. It keeps the Redis store's contract (a retention from the last
    write included) so the server runs one code path whichever store it has."""

    def __init__(self, retention_s: float = 24 * 3600) -> None:
        self._retention_s = retention_s
        # room id -> (when it expires, on the monotonic clock; the record as JSON text)
        self._records: dict[str, tuple[float, str]] = {}

    @property
    def durable(self) -> bool:
        return False

    async def load(self, room_id: str) -> RoomRecord | None:
        self._expire()
        stored = self._records.get(room_id)
        # Kept as JSON text, as Redis keeps it: a caller changing a loaded record
        # cannot change the stored one, and what cannot be encoded fails here too.
        return None if stored is None else dict(json.loads(stored[1]))

    async def save(self, record: RoomRecord) -> None:
        encoded = json.dumps(record, separators=(",", ":"))
        self._records[str(record["room_id"])] = (time.monotonic() + self._retention_s, encoded)

    async def delete(self, room_id: str) -> None:
        self._records.pop(room_id, None)

    async def room_ids(self) -> list[str]:
        self._expire()
        return sorted(self._records)

    async def close(self) -> None:
        return None

    def _expire(self) -> None:
        now = time.monotonic()
        for room_id in [r for r, (expires, _) in self._records.items() if expires <= now]:
            del self._records[room_id]
