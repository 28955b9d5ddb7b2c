"""The record store protocol, run against both implementations: in memory and a real
redis-server on a free port (tests/redis_server.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from rooms import FixedClock, Role, Room, RoomRecordStore, StoreUnavailable
from server.memory_store import InMemoryRoomRecords
from server.redis_keys import RedisKeys
from server.redis_store import RedisRoomRecords
from tests.redis_server import RedisServer
from tests.rooms.conftest import identity

RETENTION_S = 3600


@pytest.fixture(params=["memory", "redis"])
async def records(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[RoomRecordStore]:
    store: RoomRecordStore
    if request.param == "memory":
        store = InMemoryRoomRecords()
    else:
        store = RedisRoomRecords(redis_server.url, retention_s=RETENTION_S)
    yield store
    await store.close()


def a_room(room_id: str = "r1") -> Room:
    room = Room(room_id, FixedClock(), ground_rules="Be kind.")
    room.join(identity("p_fac", Role.FACILITATOR))
    room.join(identity("p_m"))
    room.accept_ground_rules("p_m")
    room.admit("p_fac", "p_m")
    room.remove("p_fac", "p_m")
    return room


async def test_a_saved_record_loads_back_whole(records: RoomRecordStore) -> None:
    room = a_room()
    await records.save(room.to_record())
    assert await records.load("r1") == room.to_record()


async def test_the_latest_save_wins(records: RoomRecordStore) -> None:
    room = a_room()
    await records.save(room.to_record())
    room.lock("p_fac", True)
    await records.save(room.to_record())
    loaded = await records.load("r1")
    assert loaded is not None and loaded["settings"]["locked"] is True


async def test_an_unknown_room_has_no_record(records: RoomRecordStore) -> None:
    assert await records.load("nobody-made-this") is None


async def test_rooms_are_listed_and_deleted(records: RoomRecordStore) -> None:
    await records.save(a_room("r1").to_record())
    await records.save(a_room("r2").to_record())
    assert await records.room_ids() == ["r1", "r2"]
    await records.delete("r1")
    assert await records.load("r1") is None
    assert await records.room_ids() == ["r2"]


async def test_a_loaded_record_is_a_copy(records: RoomRecordStore) -> None:
    await records.save(a_room().to_record())
    loaded = await records.load("r1")
    assert loaded is not None
    loaded["title"] = "changed by the caller"
    again = await records.load("r1")
    assert again is not None and again["title"] == ""


async def test_durability_is_declared(records: RoomRecordStore) -> None:
    assert records.durable is isinstance(records, RedisRoomRecords)


async def test_redis_keys_expire_after_the_retention(redis_server: RedisServer) -> None:
    records = RedisRoomRecords(redis_server.url, retention_s=RETENTION_S)
    keys = RedisKeys()
    await records.save(a_room().to_record())
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        for key in (keys.room_record("r1"), keys.room_index()):
            ttl = await raw.ttl(key)
            assert 0 < ttl <= RETENTION_S, key
    finally:
        await raw.aclose()
        await records.close()


async def test_an_expired_index_entry_is_not_listed(redis_server: RedisServer) -> None:
    records = RedisRoomRecords(redis_server.url, retention_s=RETENTION_S)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await records.save(a_room().to_record())
        # As if r1's retention ran out: its record expired, its index score passed.
        await raw.delete(RedisKeys().room_record("r1"))
        await raw.zadd(RedisKeys().room_index(), {"r1": time.time() - 1})
        assert await records.room_ids() == []
    finally:
        await raw.aclose()
        await records.close()


async def test_a_redis_that_is_down_is_refused_in_bounded_time(
    redis_server: RedisServer,
) -> None:
    records = RedisRoomRecords(redis_server.url, retention_s=RETENTION_S, timeout_s=0.5)
    try:
        await records.save(a_room().to_record())
        assert records.health_problem() is None
        redis_server.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await records.load("r1")
        with pytest.raises(StoreUnavailable):
            await records.save(a_room().to_record())
        assert time.monotonic() - started < 5  # bounded, not a hang (generous for load)
        assert records.health_problem() is not None
        redis_server.start()  # same port, empty: what a Redis without persistence does
        deadline = time.monotonic() + 10
        while not await records.ping():
            assert time.monotonic() < deadline, "the store did not come back"
            await asyncio.sleep(0.1)
        assert records.health_problem() is None
        await records.save(a_room().to_record())
        assert await records.load("r1") is not None
    finally:
        await records.close()


async def test_a_stalled_redis_is_refused_in_bounded_time(redis_server: RedisServer) -> None:
    """A Redis that accepts connections but never answers (here: paused by CLIENT PAUSE)."""
    records = RedisRoomRecords(redis_server.url, retention_s=RETENTION_S, timeout_s=0.3)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await records.save(a_room().to_record())
        await raw.execute_command("CLIENT", "PAUSE", "2000", "ALL")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await records.load("r1")
        assert time.monotonic() - started < 1.5
        await raw.execute_command("CLIENT", "UNPAUSE")
    finally:
        await raw.aclose()
        await records.close()
