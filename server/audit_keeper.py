"""Keeping audit trails after a session, when configuration asks for it.

By default a room's audit trail is discarded with the room. With
GROUPSESSION_AUDIT_DIR set, the trail (ids, times and actions: no names, no
content) is written there as JSON when the session ends.
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

    def keep(self, room: Room, ended_at: float) -> Path:
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._directory / f"{room.room_id}-{int(ended_at)}.json"
        document = {
            "room_id": room.room_id,
            "ended_at": ended_at,
            "records": plain(list(room.audit)),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
        return path
