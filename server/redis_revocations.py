"""Revoked join links in Redis: refused after a restart and on every node.

One key per revoked link (``RedisKeys.revoked_link``), with a TTL equal to the
link's remaining lifetime. Calls go through the room store's bounded client, so a
Redis that is down shows in the same health check (``/readyz``) and costs a caller
at most the store's timeout. While Redis is down (signaling.revocation has the
rule): ``revoke`` raises StoreUnavailable; ``keep`` remembers the revocation here
and ``write_back`` writes it when Redis answers; ``is_revoked`` answers from what
this node knows (its own revocations, and those it has read from Redis).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from rooms import StoreUnavailable
from server.redis_store import RedisRoomRecords
from signaling.revocation import InMemoryRevokedLinks


class RedisRevokedLinks:
    def __init__(self, records: RedisRoomRecords, clock: Callable[[], float] = time.time) -> None:
        """``clock``: Unix seconds, the time tokens' expiries are in."""
        self._records = records
        self._clock = clock
        # What this node revoked or has read as revoked, until each link expires: checked
        # first (no round trip for a link known revoked) and all there is while Redis
        # cannot say.
        self._known = InMemoryRevokedLinks(clock)
        # Revocations ``keep`` could not write: jti -> when the link expires.
        self._unwritten: dict[str, float] = {}

    @property
    def unwritten(self) -> int:
        return len(self._unwritten)

    async def revoke(self, jti: str, expires_at: float) -> None:
        await self._write(jti, expires_at)
        self._known.add(jti, expires_at)

    async def keep(self, jti: str, expires_at: float) -> bool:
        self._known.add(jti, expires_at)
        try:
            await self._write(jti, expires_at)
        except StoreUnavailable:
            self._unwritten[jti] = max(expires_at, self._unwritten.get(jti, 0.0))
            return False
        return True

    async def is_revoked(self, jti: str) -> bool:
        if self._known.knows(jti):
            return True
        if self._records.health_problem() is not None:
            # Known down (the last call failed): do not make every join wait out the
            # timeout. The readiness watcher's pings and the reconciler find it back.
            return False
        try:
            left_ms = await self._records.bounded(
                self._records.client.pttl(self._records.keys.revoked_link(jti))
            )
        except StoreUnavailable:
            return False
        if left_ms < 0:  # -2: no such key; -1 cannot happen (every key is written with a TTL)
            return False
        self._known.add(jti, self._clock() + left_ms / 1000)
        return True

    async def write_back(self) -> bool:
        for jti, expires_at in list(self._unwritten.items()):
            try:
                await self._write(jti, expires_at)
            except StoreUnavailable:
                return False
            del self._unwritten[jti]
        return True

    async def _write(self, jti: str, expires_at: float) -> None:
        """Raises StoreUnavailable. A link that has expired already needs no key."""
        ttl_s = math.ceil(expires_at - self._clock())
        if not jti or ttl_s <= 0:
            return
        key = self._records.keys.revoked_link(jti)
        await self._records.bounded(self._records.client.set(key, "1", ex=ttl_s))
