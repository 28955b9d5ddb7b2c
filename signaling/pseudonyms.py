"""How ids appear in logs: pseudonyms, never the raw ids.

A participant id is part of that participant's join link and a room id may be
meaningful (a practice's schedule), so no log line carries either. The
server passes the operators' pseudonyms (``server.monitoring.pseudonyms``),
so a log line names people and rooms as the operator page does; without
them, keyed hashes under a key that dies with the process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Protocol


class LogPseudonyms(Protocol):
    """How ids appear in logs (server.monitoring.Pseudonyms: as operators see them)."""

    def room(self, room_id: str) -> str: ...

    def participant(self, room_id: str, participant_id: str) -> str: ...


class EphemeralPseudonyms:
    """Keyed hashes under a key that dies with the process: when no deployment-wide
    pseudonyms are given, logs still never carry a raw id."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def room(self, room_id: str) -> str:
        return "room_" + self._digest(f"room\0{room_id}")

    def participant(self, room_id: str, participant_id: str) -> str:
        return "peer_" + self._digest(f"participant\0{room_id}\0{participant_id}")

    def _digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:12]

