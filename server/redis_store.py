"""Room records in Redis (redis-py asyncio): rooms outlive the process that holds them.

Every call is bounded: ``timeout_s`` caps the socket connect, each socket read and
write, and the whole call (a pool waiting for a connection included), so a Redis
that is down or stalled turns into ``StoreUnavailable`` within that time instead of
a hang. The store also remembers how its last call went (``health_problem``), which
``/readyz`` reports and signaling consults before taking a new join.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from rooms import RoomMoved, RoomRecord, StoreUnavailable
from server.redis_keys import RedisKeys

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 1.0

T = TypeVar("T")

# Fenced write for nodes sharing Redis. KEYS: the record, the index, the room's
# placement. ARGV: the record, the retention (s), the index score, this node's id,
# the room id. Writes nothing, and answers the owner, when another node holds the room.
_SAVE_IF_OWNER = """
local owner = redis.call('GET', KEYS[3])
if owner and owner ~= ARGV[4] then
  return owner
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
return ''
"""


class RedisRoomRecords:
    def __init__(
        self,
        url: str,
        *,
        retention_s: int,
        keys: RedisKeys | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        node_id: str | None = None,
    ) -> None:
        """``node_id``: this process's node (server.cluster) when several share Redis;
        then a room placed on another node is never written from here (fencing)."""
        if retention_s <= 0:
            raise ValueError("a retention is a positive number of seconds")
        self._keys = keys or RedisKeys()
        self._retention_s = retention_s
        self._timeout_s = timeout_s
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            # A retry would stretch the caller's wait past the bound; callers decide.
            retry_on_timeout=False,
            health_check_interval=5,
            decode_responses=True,
        )
        self._problem: str | None = None
        self._node_id = node_id
        self._save_if_owner = self._redis.register_script(_SAVE_IF_OWNER)

    @property
    def durable(self) -> bool:
        return True

    @property
    def keys(self) -> RedisKeys:
        return self._keys

    @property
    def client(self) -> aioredis.Redis:
        """The connection pool, for the other state kept beside the rooms (revoked
        links: server.redis_revocations); call it through ``bounded``."""
        return self._redis

    def health_problem(self) -> str | None:
        """None when the last call answered; otherwise what went wrong (no names)."""
        return self._problem

    async def ping(self) -> bool:
        """Check the connection now (the readiness watcher calls this while idle)."""
        try:
            await self.bounded(self._redis.ping())
        except StoreUnavailable:
            return False
        return True

    async def load(self, room_id: str) -> RoomRecord | None:
        stored = await self.bounded(self._redis.get(self._keys.room_record(room_id)))
        if stored is None:
            return None
        loaded = json.loads(stored)
        if not isinstance(loaded, dict):
            raise StoreUnavailable("a room record in Redis is not an object")
        return loaded

    async def save(self, record: RoomRecord) -> None:
        room_id = str(record["room_id"])
        encoded = json.dumps(record, separators=(",", ":"))
        expires_at = time.time() + self._retention_s
        if self._node_id is not None:
            owner = await self.bounded(
                self._save_if_owner(
                    keys=[
                        self._keys.room_record(room_id),
                        self._keys.room_index(),
                        self._keys.placement(room_id),
                    ],
                    args=[encoded, self._retention_s, expires_at, self._node_id, room_id],
                )
            )
            if owner:
                raise RoomMoved(f"the room is placed on node {owner}")
            return
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._keys.room_record(room_id), encoded, ex=self._retention_s)
        pipe.zadd(self._keys.room_index(), {room_id: expires_at})
        pipe.expire(self._keys.room_index(), self._retention_s)
        await self.bounded(pipe.execute())

    async def delete(self, room_id: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._keys.room_record(room_id))
        pipe.zrem(self._keys.room_index(), room_id)
        await self.bounded(pipe.execute())

    async def room_ids(self) -> list[str]:
        index = self._keys.room_index()
        pipe = self._redis.pipeline(transaction=True)
        pipe.zremrangebyscore(index, "-inf", time.time())
        pipe.zrange(index, 0, -1)
        results: list[Any] = await self.bounded(pipe.execute())
        return sorted(str(room_id) for room_id in results[1])

    async def close(self) -> None:
        await self._redis.aclose()

    async def bounded(self, call: Awaitable[T]) -> T:
        """Run one Redis call within the store's bound; StoreUnavailable when it fails.
        Every call made through it counts towards ``health_problem``."""
        try:
            result = await asyncio.wait_for(call, self._timeout_s)
        except (RedisError, OSError, TimeoutError) as error:
            problem = f"redis did not answer: {type(error).__name__}"
            if self._problem is None:
                logger.warning("room store unavailable: %s", problem)
            self._problem = problem
            raise StoreUnavailable(problem) from error
        if self._problem is not None:
            logger.info("room store available again")
        self._problem = None
        return result
