"""Which Socket.IO connection speaks for which participant.

A connection is bound to a participant only by a successful ``join`` and unbound
only by the server. A binding counts only while both sides agree (the registry's
entry and the connection's own fields): a stale entry is dropped when seen, never
trusted and never fatal.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from signaling.limits import TokenBucket

# (room id, participant id)
Seat = tuple[str, str]


@dataclass(slots=True)
class Connection:
    """One Socket.IO connection, bound to a participant once it has joined."""

    sid: str
    connected_at: float = field(default_factory=time.monotonic)
    room_id: str | None = None
    participant_id: str | None = None
    # Where it came from (the peer's IP address), for the joins-per-address limit.
    address: str = ""
    # Its message budget (signaling.limits.TokenBucket); None: unlimited.
    budget: TokenBucket | None = None
    # One message at a time per connection, in arrival order: Socket.IO runs each
    # handler as its own task, and room commands must not overtake each other.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def seat(self) -> Seat | None:
        if self.room_id is None or self.participant_id is None:
            return None
        return self.room_id, self.participant_id


class ConnectionRegistry:
    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}
        self._sid_of: dict[Seat, str] = {}

    def open(self, sid: str) -> Connection:
        """A new connection; one that exists already keeps its binding."""
        return self._connections.setdefault(sid, Connection(sid))

    def get(self, sid: str) -> Connection | None:
        return self._connections.get(sid)

    def close(self, sid: str) -> None:
        connection = self._connections.pop(sid, None)
        if connection is not None:
            self.unbind(connection)

    def bind(self, connection: Connection, room_id: str, participant_id: str) -> str | None:
        """Bind after a successful join. Returns the participant's previous connection,
        which is forgotten here (the newest connection of a participant wins)."""
        seat = (room_id, participant_id)
        previous = self._sid_of.get(seat)
        connection.room_id, connection.participant_id = seat
        self._sid_of[seat] = connection.sid
        if previous is None or previous == connection.sid:
            return None
        superseded = self._connections.pop(previous, None)
        if superseded is not None:
            superseded.room_id = superseded.participant_id = None
        return previous

    def unbind(self, connection: Connection) -> None:
        seat = connection.seat
        if seat is not None and self._sid_of.get(seat) == connection.sid:
            del self._sid_of[seat]
        connection.room_id = connection.participant_id = None

    def unbind_sid(self, sid: str) -> None:
        connection = self._connections.get(sid)
        if connection is not None:
            self.unbind(connection)
        for seat in [s for s, bound in self._sid_of.items() if bound == sid]:
            del self._sid_of[seat]

    def speaks_for(self, connection: Connection) -> bool:
        """Whether this connection is its participant's current one."""
        seat = connection.seat
        return seat is not None and self._sid_of.get(seat) == connection.sid

    def sid_for(self, room_id: str, participant_id: str) -> str | None:
        return self._sid_of.get((room_id, participant_id))

    def in_room(self, room_id: str) -> list[tuple[str, str]]:
        """The room's bound connections, as (sid, participant id)."""
        bound: list[tuple[str, str]] = []
        for seat, sid in list(self._sid_of.items()):
            if seat[0] != room_id:
                continue
            connection = self._connections.get(sid)
            if connection is None or connection.seat != seat:
                del self._sid_of[seat]
                continue
            bound.append((sid, seat[1]))
        return bound
