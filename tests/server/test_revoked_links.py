"""The revoked-links protocol against both implementations (in memory, and a real
redis-server), and what the Redis one does while Redis is down."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from rooms import StoreUnavailable
from server.redis_revocations import RedisRevokedLinks
from server.redis_store import RedisRoomRecords
from signaling.revocation import InMemoryRevokedLinks, RevokedLinks
from tests.redis_server import RedisServer

LINK_LEFT_S = 600.0


@pytest.fixture(params=["memory", "redis"])
async def links(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[RevokedLinks]:
    if request.param == "memory":
        yield InMemoryRevokedLinks()
        return
    records = RedisRoomRecords(redis_server.url, retention_s=3600)
    yield RedisRevokedLinks(records)
    await records.close()


async def test_a_revoked_link_is_revoked_until_it_expires(links: RevokedLinks) -> None:
    assert not await links.is_revoked("j1")
    await links.revoke("j1", time.time() + LINK_LEFT_S)
    assert await links.keep("j2", time.time() + LINK_LEFT_S)
    assert await links.is_revoked("j1") and await links.is_revoked("j2")
    assert not await links.is_revoked("j3")
    # A link that has expired needs no revocation: nothing is kept for it.
    await links.revoke("j4", time.time() - 1)
    assert not await links.is_revoked("j4")
    assert await links.write_back()


async def test_redis_keeps_one_key_per_link_for_the_links_remaining_life(
    redis_server: RedisServer,
) -> None:
    first = RedisRoomRecords(redis_server.url, retention_s=3600)
    other_node = RedisRoomRecords(redis_server.url, retention_s=3600)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await RedisRevokedLinks(first).revoke("j1", time.time() + 120)
        left_ms = await raw.pttl("gs:revoked:j1")
        assert 0 < left_ms <= 120_000
        assert await raw.exists("gs:revoked:j4") == 0
        # Another process (a restart, another node) reads it from Redis.
        assert await RedisRevokedLinks(other_node).is_revoked("j1")
    finally:
        await raw.aclose()
        await first.close()
        await other_node.close()


async def test_while_redis_is_down_an_operators_revocation_is_refused_a_rooms_kept(
    redis_server: RedisServer,
) -> None:
    records = RedisRoomRecords(redis_server.url, retention_s=3600, timeout_s=0.5)
    links = RedisRevokedLinks(records)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await links.revoke("seen", time.time() + LINK_LEFT_S)
        redis_server.stop()
        with pytest.raises(StoreUnavailable):
            await links.revoke("j1", time.time() + LINK_LEFT_S)
        assert not await links.is_revoked("j1")  # refused: nothing kept
        assert not await links.keep("j2", time.time() + LINK_LEFT_S)
        assert links.unwritten == 1
        # What this node knows still counts while Redis cannot say.
        assert await links.is_revoked("j2") and await links.is_revoked("seen")
        assert not await links.write_back()
        redis_server.start()
        assert await records.ping()
        assert await links.write_back()
        assert links.unwritten == 0
        assert await raw.exists("gs:revoked:j2") == 1
    finally:
        await raw.aclose()
        await records.close()
