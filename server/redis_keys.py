"""Every Redis key groupsession uses, in one place, each with what it maps.

All keys start with a deployment prefix (``GROUPSESSION_REDIS_PREFIX``, default
``gs``) so several deployments can share one Redis. Every key carries a TTL: none
outlives its room by more than the configured retention (``room_retention_s``),
even if no process is left to delete it; a revoked link's key lives exactly as long
as the link would have.
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

    def node(self, node_id: str) -> str:
        """STRING: a live node's registration as JSON (id, address for clients, capacity,
        load). TTL: the heartbeat lease; a node that stops renewing it is dead."""
        return f"{self.prefix}:node:{node_id}"

    def node_prefix(self) -> str:
        """What ``node`` puts before a node id (the placement script builds keys with it)."""
        return f"{self.prefix}:node:"

    def nodes(self) -> str:
        """ZSET: node id -> the epoch millisecond its lease runs out, to list nodes without
        SCAN; members past their score are dropped on read. TTL: the retention."""
        return f"{self.prefix}:nodes"

    def placement(self, room_id: str) -> str:
        """STRING: the id of the node a room is placed on. Valid only while that node's
        lease lives (the placement script checks). TTL: the retention."""
        return f"{self.prefix}:placement:{room_id}"

    def monitor(self, node_id: str) -> str:
        """STRING: a node's latest operator snapshot (server.monitoring.views.
        MonitorSnapshot) as JSON: pseudonymous ids only. TTL: a few monitor intervals,
        so a dead node's rooms leave the operators' view with it."""
        return f"{self.prefix}:monitor:{node_id}"

    def revoked_link(self, jti: str) -> str:
        """STRING: present while the join link with this ``jti`` is revoked (the value
        is only a marker). TTL: the link's remaining lifetime when it was revoked, so
        no revocation outlives its link. Read with PTTL, so a node that finds one
        also learns how long to remember it."""
        return f"{self.prefix}:revoked:{jti}"
