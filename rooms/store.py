"""Where rooms live.

Two contracts. ``RoomStore``: the rooms live on this node, as domain objects in
this process's memory (server.memory_store). ``RoomRecordStore``: where each
room's durable record (rooms.record) is kept so that the room outlives the
process that holds it — in this process's memory by default
(server.memory_store.InMemoryRoomRecords), or in Redis
(server.redis_store.RedisRoomRecords) so that a restarted or another node can
take the room on as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from rooms.record import RoomRecord
from rooms.room import Room


class RoomStore(Protocol):
    def get(self, room_id: str) -> Room | None: ...

    def add(self, room: Room) -> None: ...

    def discard(self, room_id: str) -> None: ...

    def __iter__(self) -> Iterator[Room]: ...

    def __len__(self) -> int: ...


class StoreUnavailable(Exception):
    """The record store did not answer in time, or refused: nothing was read or written.
    Callers map it to ``service_unavailable`` at the edge."""

    code = "service_unavailable"


class RoomMoved(Exception):
    """The room is placed on another node now (this one lost its lease, e.g. paused
    too long): this node must not write it, and lets go of it."""


class RoomRecordStore(Protocol):
    """Durable room records. Every call is bounded in time: it answers, or raises
    ``StoreUnavailable`` — it never hangs a caller."""

    @property
    def durable(self) -> bool:
        """True when records outlive this process (a restart finds them again)."""
        ...

    async def load(self, room_id: str) -> RoomRecord | None:
        """The room's latest record, or None when the store has none (never made, or
        its retention ran out)."""
        ...

    async def save(self, record: RoomRecord) -> None:
        """Keep this record as the room's latest (``record["room_id"]`` names the room),
        for the configured retention from now. Raises RoomMoved, writing nothing, when
        the room is placed on another node (stores shared by several nodes)."""
        ...

    async def delete(self, room_id: str) -> None: ...

    async def room_ids(self) -> list[str]:
        """Every room with a record."""
        ...

    async def close(self) -> None: ...
