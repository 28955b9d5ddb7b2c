"""Pseudonymous ids for operators: stable within a deployment, meaningless outside it.

A room id may be meaningful ("tuesday-grief-group"), and a participant id is in
that participant's join link. Operators see neither: they see keyed hashes.
"""

from __future__ import annotations

import hashlib
import hmac


class Pseudonyms:
    def __init__(self, secret: str) -> None:
        # A key of its own, so a pseudonym reveals nothing about the token-signing key.
        self._key = hashlib.sha256(b"groupsession/operator-pseudonyms/" + secret.encode()).digest()

    def room(self, room_id: str) -> str:
        return "room_" + self._digest(f"room\0{room_id}")

    def participant(self, room_id: str, participant_id: str) -> str:
        return "peer_" + self._digest(f"participant\0{room_id}\0{participant_id}")

    def _digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:12]
