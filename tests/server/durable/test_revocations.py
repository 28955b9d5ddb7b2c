"""Revoked links in Redis: refused after a restart and on every node; while Redis is
down an operator's revocation is refused and a room's (``remove``) is kept and
written back when Redis returns. Real processes, a real redis-server, real
Socket.IO."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio

from rooms import Role
from signaling.tokens import TokenSigner
from tests.conftest import ADMIN_KEY, TEST_SECRET
from tests.redis_server import RedisServer
from tests.server.processes import ServerProcess
from tests.server.sfu.peers import eventually_async

ROOM = "revocations"
LINK_TTL_S = 600  # tests.server.processes mints every link for ten minutes


@pytest.fixture
async def nodes(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[list[ServerProcess]]:
    started = [
        ServerProcess(
            tmp_path / f"node{i}",
            redis_url=redis_server.url,
            extra_env={"GROUPSESSION_ADMIN_KEY": ADMIN_KEY},
        )
        for i in range(2)
    ]
    for node in started[1:]:
        node._tokens = started[0]._tokens  # one set of links for the whole cluster
    await asyncio.gather(*(node.start() for node in started))
    yield started
    for node in started:
        node.kill()


async def joined(server: ServerProcess, role: Role, name: str) -> tuple[socketio.AsyncClient, str]:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, transports=["websocket"], wait_timeout=5)
    reply = await client.call("join", {"token": server.token(ROOM, role, name)}, timeout=30)
    assert reply["ok"], reply
    return client, str(reply["snapshot"]["you"]["participant_id"])


async def join_code(server: ServerProcess, token: str) -> str:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, transports=["websocket"], wait_timeout=5)
    try:
        reply: dict[str, Any] = await client.call("join", {"token": token}, timeout=30)
    finally:
        await client.disconnect()
    return "ok" if reply["ok"] else str(reply["error"]["code"])


async def revoke(server: ServerProcess, token: str) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/api/revocations", json={"token": token}, headers=headers) as r,
    ):
        return r.status, await r.json()


def jti_of(token: str) -> str:
    return TokenSigner(TEST_SECRET).verify_join(token, time.time()).jti


async def test_a_revoked_link_is_refused_on_every_node_and_after_a_restart(
    nodes: list[ServerProcess], redis_server: RedisServer
) -> None:
    a, b = nodes
    leaked = a.token(ROOM, Role.FACILITATOR, "Leaked")
    status, body = await revoke(a, leaked)
    assert status == 200 and body["revoked"] is True
    # Another node refuses it at once: it reads Redis, not its own memory.
    assert await join_code(b, leaked) == "token_revoked"

    fran, _ = await joined(a, Role.FACILITATOR, "Fran")
    dee = None
    try:
        await fran.call("update_settings", {"auto_admit": True}, timeout=15)
        dee, dee_id = await joined(a, Role.MEMBER, "Dee")
        removed = await fran.call("remove", {"participant_id": dee_id}, timeout=15)
        assert removed["ok"], removed
        dee_token = a.token(ROOM, Role.MEMBER, "Dee")
        # Node B does not hold the room: the refusal is the revocation's, not the room's.
        assert await join_code(b, dee_token) == "token_revoked"
    finally:
        await fran.disconnect()
        if dee is not None and dee.connected:
            await dee.disconnect()

    # Each revoked link is one key that lives no longer than the link would have.
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        for token in (leaked, dee_token):
            left_ms = await raw.pttl(f"gs:revoked:{jti_of(token)}")
            assert 0 < left_ms <= LINK_TTL_S * 1000
    finally:
        await raw.aclose()

    a.kill()  # no shutdown: nothing is handed over but what Redis holds
    b.kill()
    await asyncio.gather(a.start(), b.start())
    for node in (a, b):
        assert await join_code(node, leaked) == "token_revoked"
        assert await join_code(node, dee_token) == "token_revoked"
    # Only those links: another one still comes in.
    assert await join_code(a, a.token(ROOM, Role.FACILITATOR, "Other")) == "ok"


async def test_while_redis_is_down_a_rooms_revocation_is_kept_and_an_operators_refused(
    nodes: list[ServerProcess], redis_server: RedisServer
) -> None:
    a, b = nodes
    fran, _ = await joined(a, Role.FACILITATOR, "Fran")
    dee = None
    try:
        await fran.call("update_settings", {"auto_admit": True}, timeout=15)
        dee, dee_id = await joined(a, Role.MEMBER, "Dee")
        dee_token = a.token(ROOM, Role.MEMBER, "Dee")

        redis_server.stop()
        leaked = a.token(ROOM, Role.FACILITATOR, "Leaked")
        status, body = await revoke(a, leaked)
        # Refused explicitly, nothing kept: the operator tries again once Redis is back.
        assert status == 503 and body["error"]["code"] == "service_unavailable"
        # The room's own command goes through: the removal holds on this node at once.
        removed = await fran.call("remove", {"participant_id": dee_id}, timeout=15)
        assert removed["ok"], removed
        assert await join_code(a, dee_token) == "barred"

        redis_server.start()  # empty, as a Redis without persistence comes back
        raw = aioredis.Redis.from_url(redis_server.url)
        try:

            async def written_back() -> bool:
                return int(await raw.exists(f"gs:revoked:{jti_of(dee_token)}")) == 1

            await eventually_async(written_back, 20, "the removal's revocation written back", 0.2)
            assert not await raw.exists(f"gs:revoked:{jti_of(leaked)}")
        finally:
            await raw.aclose()
        # Now every node refuses the removed member's link (node b may take a moment to
        # find Redis again: until then it answers service_unavailable); the other one works.
        async def refused_at_b() -> bool:
            return await join_code(b, dee_token) == "token_revoked"

        await eventually_async(refused_at_b, 20, "node b refusing the removed member's link", 0.5)
        assert await join_code(b, leaked) != "token_revoked"
        status, _ = await revoke(a, leaked)
        assert status == 200
        assert await join_code(b, leaked) == "token_revoked"
    finally:
        await fran.disconnect()
        if dee is not None and dee.connected:
            await dee.disconnect()
