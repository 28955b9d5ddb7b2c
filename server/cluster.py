"""Nodes sharing one Redis: each registers under a heartbeat lease, and each room is
placed on one live node at its first join (signaling.placement).

A node is one ``groupsession serve`` process. Its id is derived from its address for
clients (``GROUPSESSION_NODE_URL``, by default its public URL), so a restarted
process is the same node and keeps its rooms. It renews its registration every
``HEARTBEAT_S``; the registration expires ``LEASE_MS`` after the last renewal, so a
node killed outright is known dead within that (6 s; the issue asks 10 s). A room
is placed by a Lua script that reads the room's placement and, unless it names a
node whose lease lives, writes the chosen node: atomic in Redis, so simultaneous
first joins through different nodes place the room once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from rooms import StoreUnavailable
from server.monitoring.views import MonitorSnapshot
from server.redis_keys import RedisKeys

logger = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
LEASE_MS = 6000
# A node's operator snapshot (written about once a second) is dropped this long after
# its last write: a dead node's rooms leave the operators' view within it.
MONITOR_TTL_MS = 5000
# What a node tells the cluster it can hold: participants, across its rooms. Rooms go
# to the node with the smallest share of its capacity in use.
NODE_CAPACITY = 120

T = TypeVar("T")

# KEYS[1]: the room's placement. ARGV: node key prefix, the chosen node, the TTL (s).
_PLACE = """
local owner = redis.call('GET', KEYS[1])
if owner and redis.call('EXISTS', ARGV[1] .. owner) == 1 then
  return owner
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return ARGV[2]
"""


def node_id_for(url: str) -> str:
    return "n_" + hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node_id: str
    url: str
    capacity: int
    load: int

    @property
    def share_used(self) -> float:
        return self.load / max(1, self.capacity)


class NodeRegistry:
    def __init__(
        self,
        redis_url: str,
        *,
        node_url: str,
        load: Callable[[], int],
        retention_s: int,
        keys: RedisKeys | None = None,
        timeout_s: float = 1.0,
        capacity: int = NODE_CAPACITY,
        live_room_ids: Callable[[], list[str]] = list,
        on_room_lost: Callable[[str], None] = lambda _: None,
    ) -> None:
        """``live_room_ids``/``on_room_lost``: with every heartbeat, the rooms live here
        are checked against their placement; one placed on another node meanwhile (this
        node missed its lease: paused, cut off) is handed to ``on_room_lost``."""
        self.node_id = node_id_for(node_url)
        self.node_url = node_url
        self._load = load
        self._capacity = capacity
        self._retention_s = retention_s
        self._keys = keys or RedisKeys()
        self._timeout_s = timeout_s
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            redis_url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
            decode_responses=True,
        )
        self._place = self._redis.register_script(_PLACE)
        self._live_room_ids = live_room_ids
        self._on_room_lost = on_room_lost

    def me(self) -> NodeInfo:
        return NodeInfo(self.node_id, self.node_url, self._capacity, self._load())

    async def heartbeat(self) -> None:
        """Renew this node's lease (and say its current load)."""
        expires_ms = int(time.time() * 1000) + LEASE_MS
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._keys.node(self.node_id), json.dumps(asdict(self.me())), px=LEASE_MS)
        pipe.zadd(self._keys.nodes(), {self.node_id: expires_ms})
        pipe.expire(self._keys.nodes(), self._retention_s)
        await self._bounded(pipe.execute())

    async def run(self) -> None:
        """Heartbeat until cancelled; a missed beat is logged, never fatal."""
        while True:
            try:
                await self.heartbeat()
                for room_id in await self.rooms_placed_elsewhere():
                    logger.warning("a room of this node was placed on another: letting go")
                    self._on_room_lost(room_id)
            except StoreUnavailable:
                logger.warning("node heartbeat missed: redis did not answer")
            await asyncio.sleep(HEARTBEAT_S)

    async def rooms_placed_elsewhere(self) -> list[str]:
        room_ids = self._live_room_ids()
        if not room_ids:
            return []
        owners = await self._bounded(
            self._redis.mget([self._keys.placement(room_id) for room_id in room_ids])
        )
        return [
            room_id
            for room_id, owner in zip(room_ids, owners, strict=True)
            if owner is not None and owner != self.node_id
        ]

    async def leave(self) -> None:
        """Deregister at a graceful stop, so rooms are placed elsewhere at once."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._keys.node(self.node_id))
        pipe.zrem(self._keys.nodes(), self.node_id)
        await self._bounded(pipe.execute())

    async def live_nodes(self) -> list[NodeInfo]:
        nodes = self._keys.nodes()
        pipe = self._redis.pipeline(transaction=True)
        pipe.zremrangebyscore(nodes, "-inf", int(time.time() * 1000))
        pipe.zrange(nodes, 0, -1)
        results: list[Any] = await self._bounded(pipe.execute())
        ids = [str(node_id) for node_id in results[1]]
        if not ids:
            return []
        stored = await self._bounded(self._redis.mget([self._keys.node(i) for i in ids]))
        return [_node(json.loads(raw)) for raw in stored if raw is not None]

    async def node_for(self, room_id: str) -> str | None:
        """signaling.placement.RoomPlacement: None when the room is this node's."""
        for _ in range(3):
            nodes = {node.node_id: node for node in await self.live_nodes()}
            nodes.setdefault(self.node_id, self.me())  # before its first heartbeat
            chosen = min(
                nodes.values(),
                key=lambda n: (n.share_used, n.node_id != self.node_id, n.node_id),
            )
            owner = str(
                await self._bounded(
                    self._place(
                        keys=[self._keys.placement(room_id)],
                        args=[self._keys.node_prefix(), chosen.node_id, self._retention_s],
                    )
                )
            )
            if owner == self.node_id:
                return None
            known = nodes.get(owner)
            if known is not None:
                return known.url
            # Placed on a node that registered since we listed: read it, or try again.
            raw = await self._bounded(self._redis.get(self._keys.node(owner)))
            if raw is not None:
                return _node(json.loads(raw)).url
        raise StoreUnavailable("the room's node could not be found")

    async def share_snapshot(self, snapshot: MonitorSnapshot) -> None:
        """Let every node's operators see this node's rooms (monitor listener)."""
        try:
            await self._bounded(
                self._redis.set(
                    self._keys.monitor(self.node_id), snapshot.model_dump_json(), px=MONITOR_TTL_MS
                )
            )
        except StoreUnavailable:
            logger.warning("operator snapshot not shared: redis did not answer")

    async def cluster_snapshot(self, local: MonitorSnapshot) -> MonitorSnapshot:
        """This node's snapshot with every other live node's rooms and alerts added (the
        server figures stay this node's own). Only this node's when Redis is away."""
        try:
            nodes = [n for n in await self.live_nodes() if n.node_id != self.node_id]
            if not nodes:
                return local
            keys = [self._keys.monitor(n.node_id) for n in nodes]
            stored = await self._bounded(self._redis.mget(keys))
        except StoreUnavailable:
            return local
        rooms, alerts = list(local.rooms), list(local.alerts)
        for raw in stored:
            if raw is None:
                continue
            other = MonitorSnapshot.model_validate_json(raw)
            rooms += other.rooms
            alerts += other.alerts
        return local.model_copy(update={"rooms": rooms, "alerts": alerts})

    async def node_of_room_ref(self, room_ref: str) -> str | None:
        """The address of the node whose operator snapshot lists ``room_ref``."""
        try:
            nodes = [n for n in await self.live_nodes() if n.node_id != self.node_id]
            keys = [self._keys.monitor(n.node_id) for n in nodes]
            stored = await self._bounded(self._redis.mget(keys)) if keys else []
        except StoreUnavailable:
            return None
        for node, raw in zip(nodes, stored, strict=True):
            if raw is not None and any(
                room.room_ref == room_ref for room in MonitorSnapshot.model_validate_json(raw).rooms
            ):
                return node.url
        return None

    async def close(self) -> None:
        await self._redis.aclose()

    async def _bounded(self, call: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(call, self._timeout_s)
        except (RedisError, OSError, TimeoutError) as error:
            raise StoreUnavailable(f"redis did not answer: {type(error).__name__}") from error


def _node(data: dict[str, Any]) -> NodeInfo:
    return NodeInfo(
        node_id=str(data["node_id"]),
        url=str(data["url"]),
        capacity=int(data["capacity"]),
        load=int(data["load"]),
    )
