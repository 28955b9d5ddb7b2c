"""Keeping audit trails after a session, when configuration asks for it.

By default a room's audit trail is discarded with the room. With
GROUPSESSION_AUDIT_DIR set, the trail (ids, times and actions, attendance
included: no names, no content) is written there as JSON when the session ends,
when it empties out, before the room is forgotten, and at shutdown (server.app).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rooms import Room
from signaling.wire import plain


class AuditKeeper:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        # How many records of each room's trail are on disk already.
        self._kept: dict[str, int] = {}

    def has_news(self, room: Room) -> bool:
        """Whether the room's trail has records not yet written."""
        return len(room.audit) > self._kept.get(room.room_id, 0)

    def keep(self, room: Room, ended_at: float, why: str = "ended") -> Path:
        """Write the whole trail so far. ``why``: ``ended``, ``emptied`` (everyone
        left; it may go on), ``discarded`` (the room is forgotten) or ``shutdown``. A
        later file of the same room holds everything an earlier one did."""
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._directory / f"{room.room_id}-{int(ended_at)}-{why}.json"
        records = list(room.audit)
        document = {
            "room_id": room.room_id,
            "ended_at": ended_at,
            "kept_because": why,
            "records": plain(records),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
        self._kept[room.room_id] = len(records)
        return path

    def forget(self, room_id: str) -> None:
        self._kept.pop(room_id, None)
