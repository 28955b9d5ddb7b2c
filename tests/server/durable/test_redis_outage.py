"""A Redis outage mid-session: media never stops, the running session keeps working,
joins that need Redis get ``service_unavailable`` at once instead of a hang, and
everything is written again when Redis returns (empty, as a Redis without
persistence comes back). Real processes, a real redis-server stopped and started."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio

from rooms import Role
from signaling.media import TrackKind
from tests.redis_server import RedisServer
from tests.server.processes import ServerProcess
from tests.server.sfu.peers import eventually, eventually_async
from tests.server.sfu.wire_peers import WirePeer

ROOM = "outage"
MEDIA_TIMEOUT_S = 30.0
# Generous for a loaded machine; what matters is that it is bounded, not a hang.
JOIN_REFUSAL_BOUND_S = 10.0


@pytest.fixture
async def node(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(tmp_path / "node", redis_url=redis_server.url)
    await server.start()
    yield server
    server.kill()


async def join(server: ServerProcess, room: str, role: Role, name: str) -> dict[str, Any]:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, transports=["websocket"], wait_timeout=5)
    try:
        reply: dict[str, Any] = await client.call(
            "join", {"token": server.token(room, role, name)}, timeout=30
        )
    finally:
        await client.disconnect()
    return reply


async def readyz(server: ServerProcess) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/readyz") as response:
        return response.status, await response.json()


async def test_a_redis_outage_leaves_the_session_running(
    node: ServerProcess, redis_server: RedisServer
) -> None:
    fran = WirePeer(node, ROOM, "Fran", index=0, role=Role.FACILITATOR)
    ann = WirePeer(node, ROOM, "Ann", index=1)
    try:
        await fran.join()
        await fran.call("update_settings", {"auto_admit": True})
        await ann.join()
        for peer in (fran, ann):
            peer.identities.update({fran.participant_id: 0, ann.participant_id: 1})
            await peer.publish()
            await peer.subscribe()
        await eventually(
            lambda: fran.sees_and_hears([ann]) and ann.sees_and_hears([fran]),
            MEDIA_TIMEOUT_S,
            "media before the outage",
        )

        redis_server.stop()
        # Media goes on: more of Ann's frames keep reaching Fran, and the other way.
        seen = fran.reception(ann.participant_id, TrackKind.VIDEO).matching
        heard = ann.reception(fran.participant_id, TrackKind.AUDIO).matching
        await eventually(
            lambda: (
                fran.reception(ann.participant_id, TrackKind.VIDEO).matching > seen + 20
                and ann.reception(fran.participant_id, TrackKind.AUDIO).matching > heard + 20
            ),
            MEDIA_TIMEOUT_S,
            "media during the outage",
        )
        # The session's commands keep working (kept in memory, written later).
        await fran.call("mute", {"participant_id": ann.participant_id, "device": "microphone"})
        await ann.call("raise_hand")
        # A join that needs Redis is refused clearly, and quickly.
        started = time.monotonic()
        refused = await join(node, "a-new-room", Role.FACILITATOR, "Gil")
        assert refused["ok"] is False
        assert refused["error"]["code"] == "service_unavailable"
        assert time.monotonic() - started < JOIN_REFUSAL_BOUND_S

        # The load balancer is told not to send new sessions here.
        async def not_ready() -> bool:
            status, body = await readyz(node)
            return status == 503 and body["reason"] == "dependency_down"

        await eventually_async(not_ready, 15, "/readyz reporting the room store down", 0.2)

        redis_server.start()  # empty: it kept nothing

        async def ready() -> bool:
            return (await readyz(node))[0] == 200

        await eventually_async(ready, 15, "/readyz ready again", 0.2)
        raw = aioredis.Redis.from_url(redis_server.url)
        try:

            async def reconciled() -> bool:
                stored = await raw.get(f"gs:room:{ROOM}")
                return stored is not None and ann.participant_id in json.loads(stored)["hands"]

            await eventually_async(reconciled, 15, "the room written again after the outage", 0.2)
            record = json.loads(await raw.get(f"gs:room:{ROOM}"))
            [ann_record] = [
                p for p in record["participants"] if p["participant_id"] == ann.participant_id
            ]
            assert ann_record["microphone"] == {"on": False, "held": True}
        finally:
            await raw.aclose()
        # New joins work again.
        welcome = await join(node, "a-new-room", Role.FACILITATOR, "Gil")
        assert welcome["ok"] is True, welcome
        assert fran.sio.connected and ann.sio.connected
    finally:
        await fran.close()
        await ann.close()
