"""Every Redis key groupsession uses, in one place, each with what it maps.

All keys start with a deployment prefix (``GROUPSESSION_REDIS_PREFIX``, default
``gs``) so several deployments can share one Redis. Every key carries a TTL: none
outlives its room by more than the configured retention (``room_retention_s``),
even if no process is left to delete it.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "gs"


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str = DEFAULT_PREFIX

    def room_record(self, room_id: str) -> str:
        """STRING: the room's durable record (rooms.record) as JSON. TTL: the retention,
        renewed by every write, so it lasts as long as the room is used plus the
        retention."""
        return f"{self.prefix}:room:{room_id}"

    def room_index(self) -> str:
        """ZSET: room id -> the epoch second its record expires. Lets a node list the
        rooms with records without SCAN; members past their score are dropped on read.
        TTL: the retention, renewed by every write."""
        return f"{self.prefix}:rooms"
