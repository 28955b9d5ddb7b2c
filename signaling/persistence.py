"""Writing rooms' records before their commands are acknowledged, and what happens
when the record store is down.

A command acknowledged is a command kept: signaling saves the room's record after
every state-changing command and before the acknowledgment and the room's events
go out (``Signaling._deliver_and_settle``).

While the store is down (Redis unreachable or stalled), a room running on this
node keeps running: its participants, media and moderation are this node's, and a
facilitator who must mute someone cannot wait for a database. Its changes are kept
in memory and the room is marked unsaved; a reconciler retries every
``retry_s`` and, as soon as the store answers, writes the latest record of every
room live on this node (not only those changed meanwhile: a Redis that restarted
without persistence lost them all). This node owns its rooms, so the latest
in-memory state is the truth and "reconciling" is writing it. What that costs: if
this node also dies before the store returns, the changes made during the outage
are lost. What needs the store is refused with ``service_unavailable`` instead:
taking on a room that is not live here (a first join, a join after a restart), and
creating rooms. Revoked links follow the same rule (signaling.revocation): those a
live room's command made are kept here and written by the same reconciler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from rooms import Room, RoomMoved, RoomRecord, RoomRecordStore, StoreUnavailable

RETRY_S = 1.0

LogIds = Callable[[str], dict[str, str | None]]


class RoomPersistence:
    def __init__(
        self,
        records: RoomRecordStore,
        logger: logging.Logger,
        log_ids: LogIds,
        live_rooms: Callable[[], Iterable[Room]],
        on_moved: Callable[[Room], None],
        retry_s: float = RETRY_S,
        write_back: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """``on_moved``: a room found placed on another node while writing it (this node
        lost its lease); the caller lets go of it. ``save`` raises RoomMoved instead.
        ``write_back``: what else was kept while the store was down (revoked links),
        written by each flush after the rooms; True when nothing is left."""
        self._write_back = write_back
        self._records = records
        self._live_rooms = live_rooms
        self._on_moved = on_moved
        self._logger = logger
        self._log_ids = log_ids
        self._retry_s = retry_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._unsaved: dict[str, Room] = {}
        self._store_down = False
        self._reconciler: asyncio.Task[None] | None = None

    @property
    def records(self) -> RoomRecordStore:
        return self._records

    @property
    def available(self) -> bool:
        """False from a failed write until the store answers again."""
        return not self._store_down

    @property
    def unsaved(self) -> int:
        """Rooms whose latest changes only this process holds (the store was down)."""
        return len(self._unsaved)

    async def load(self, room_id: str) -> RoomRecord | None:
        """Raises StoreUnavailable: a room that is not live here cannot be taken on blind."""
        if self._store_down:
            raise StoreUnavailable("the room store is down")
        return await self._records.load(room_id)

    def store_went_down(self) -> None:
        """Someone else found the store down (the idle watcher): stop trying it on every
        command and let the reconciler find when it is back."""
        if not self._store_down:
            self._store_down = True
            self._start_reconciler()

    async def save(self, room: Room) -> bool:
        """Write the room's record now; True when it is kept. When the store is down the
        room is queued for the reconciler instead (and False is returned). Raises
        RoomMoved when another node holds the room now: nothing was written."""
        if self._store_down:
            self._queue(room)
            return False
        try:
            await self._write(room)
        except StoreUnavailable:
            self._store_down = True
            self._queue(room)
            return False
        return True

    def forget(self, room_id: str) -> None:
        """The room left this node (retention): nothing more to write for it."""
        self._unsaved.pop(room_id, None)
        self._locks.pop(room_id, None)

    async def flush(self) -> bool:
        """Write every live room (and any unsaved one) once; True when all are written.
        The reconciler's step, and the last thing a shutdown does."""
        rooms = {room.room_id: room for room in self._live_rooms()} | self._unsaved
        for room_id, room in rooms.items():
            try:
                await self._write(room)
            except StoreUnavailable:
                self._store_down = True
                return False
            except RoomMoved:
                self.forget(room_id)
                self._on_moved(room)
                continue
            if self._unsaved.get(room_id) is room:
                del self._unsaved[room_id]
        if self._write_back is not None and not await self._write_back():
            self._store_down = True
            return False
        self._store_down = False
        return True

    async def close(self) -> None:
        if self._reconciler is not None:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
            self._reconciler = None

    async def _write(self, room: Room) -> None:
        # One write at a time per room, and the record taken under the lock: a later
        # write always carries a later state, whichever connection Redis answers first.
        lock = self._locks.setdefault(room.room_id, asyncio.Lock())
        async with lock:
            await self._records.save(room.to_record())

    def _queue(self, room: Room) -> None:
        if room.room_id not in self._unsaved:
            self._logger.warning(
                "room store down: keeping this room's changes until it answers",
                extra=self._log_ids(room.room_id),
            )
        self._unsaved[room.room_id] = room
        self._start_reconciler()

    def _start_reconciler(self) -> None:
        if self._reconciler is None or self._reconciler.done():
            self._reconciler = asyncio.ensure_future(self._reconcile())

    async def _reconcile(self) -> None:
        while self._store_down:
            await asyncio.sleep(self._retry_s)
            if await self.flush():
                self._logger.info("room store answers again: every live room written")
                return
