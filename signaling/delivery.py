"""Room events out to connections: in the order the room's commands ran, each to its
audience (signaling.audience), one connection's failure never another's."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import socketio

from rooms import Room
from rooms.events import ParticipantAdmitted, RoomEvent
from signaling.audience import receives
from signaling.connections import ConnectionRegistry
from signaling.event_names import ServerEvent
from signaling.wire import encode_event, encode_snapshot


class RateLimitedLog:
    """At most one line per ``interval_s`` for a message a client can trigger at will;
    the lines suppressed in between are counted in the next one."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._last: float | None = None
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < self._interval_s:
            self._suppressed += 1
            return
        self._logger.warning(message + " (%d more since the last line)", *args, self._suppressed)
        self._last, self._suppressed = now, 0


class RoomDelivery:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        registry: ConnectionRegistry,
        log: logging.Logger,
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        self._sio = sio
        self._registry = registry
        self._on_failure = on_failure
        self._failure_log = RateLimitedLog(log)
        # Weak: a room's lock lives while a delivery holds or awaits it, no longer.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Emits that failed for one connection (the others were still served).
        self.failures = 0

    def lock(self, room_id: str) -> asyncio.Lock:
        """Held while a room's events go out, so they leave in the order the room's
        commands ran (commands run without awaiting; this is taken before the first
        await of their delivery)."""
        lock = self._locks.get(room_id)
        if lock is None:
            lock = self._locks[room_id] = asyncio.Lock()
        return lock

    async def deliver(
        self, room: Room, events: Iterable[RoomEvent], *, skip_snapshot_for: str | None
    ) -> None:
        for event in events:
            name, payload = encode_event(event)
            for sid, pid in self._registry.in_room(room.room_id):
                if not receives(room, pid, event):
                    continue
                if (
                    isinstance(event, ParticipantAdmitted)
                    and pid == event.participant.participant_id
                ):
                    # The newcomer gets the whole room instead (unless its join ack has it).
                    if pid != skip_snapshot_for:
                        snapshot = encode_snapshot(room.snapshot_for(pid))
                        await self.emit(ServerEvent.ROOM_SNAPSHOT, snapshot, sid)
                    continue
                await self.emit(name, payload, sid)

    async def emit(self, name: ServerEvent, payload: dict[str, Any], sid: str) -> None:
        """Send to one connection. A failure there (a closing socket, a value that will
        not encode) is counted and logged, and the others are still served."""
        try:
            await self._sio.emit(name.value, payload, to=sid)
        except Exception as error:
            self.failures += 1
            self._on_failure()
            self._failure_log.warning("could not deliver %s: %s", name.value, type(error).__name__)
