"""Abuse limits over the real wire: each refused with its own code, nobody else affected.
How fast the others stay under a flood is measured in benchmarks/signaling_flood.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import socketio

from rooms import Role
from signaling.limits import AttemptsPerMinute, TokenBucket
from tests.conftest import Client, ClientFactory, RunningServer, joined, start_server, wait_until


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[RunningServer]]]:
    """Start a server with the given limits; stopped after the test's clients are gone."""
    runners: list[Any] = []

    async def start(**limits: Any) -> RunningServer:
        runner, server = await start_server(tmp_path, **limits)
        runners.append(runner)
        return server

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def connect_to(
    limited: Any,
) -> AsyncIterator[Callable[[RunningServer], Awaitable[Client]]]:
    """Real clients of a server the test starts itself."""
    clients: list[Client] = []

    async def factory(server: RunningServer) -> Client:
        client = Client(socketio.AsyncClient(reconnection=False))
        await client.sio.connect(server.url, transports=["websocket"], wait_timeout=5)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        if client.sio.connected:
            await client.sio.disconnect()


async def test_a_flood_is_refused_as_rate_limited_and_the_room_is_still_served(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    flooder, _ = await joined(connect, server, "r1", Role.MEMBER, "Flood")
    calm, _ = await joined(connect, server, "r1", Role.MEMBER, "Calm")

    async def flood() -> list[dict[str, Any]]:
        calls = [flooder.call("raise_hand" if i % 2 else "lower_hand") for i in range(200)]
        return list(await asyncio.gather(*calls))

    flooding = asyncio.ensure_future(flood())
    served = [await calm.call("send_chat", {"text": f"still here {i}"}) for i in range(5)]
    replies = await flooding
    codes = {r["error"]["code"] for r in replies if not r["ok"]}
    assert "rate_limited" in codes, codes
    assert sum(1 for r in replies if not r["ok"] and r["error"]["code"] == "rate_limited") >= 100
    assert all(r["ok"] for r in served), served
    await fac.wait_for("chat_message", lambda d: d["message"]["text"] == "still here 4")


async def test_a_socket_that_never_joins_is_closed(limited: Any, connect_to: Any) -> None:
    server = await limited(join_timeout_s=1)
    idle: Client = await connect_to(server)
    member: Client = await connect_to(server)
    assert (await member.call("join", {"token": server.token("r1", Role.MEMBER, "A")}))["ok"]
    await wait_until(lambda: not idle.sio.connected, timeout=5, what="the idle socket to close")
    assert member.sio.connected


async def test_joins_per_address_are_limited(limited: Any, connect_to: Any) -> None:
    server = await limited(joins_per_minute=3)
    codes = []
    for i in range(4):
        client: Client = await connect_to(server)
        reply = await client.call("join", {"token": server.token("r1", Role.MEMBER, f"M{i}")})
        codes.append("ok" if reply["ok"] else reply["error"]["code"])
    assert codes == ["ok", "ok", "ok", "rate_limited"]


async def test_rooms_per_node_and_the_waiting_room_are_bounded(
    limited: Any, connect_to: Any
) -> None:
    server = await limited(max_rooms=1, waiting_room_size=1)

    async def join(room: str, name: str) -> str:
        client: Client = await connect_to(server)
        reply = await client.call("join", {"token": server.token(room, Role.MEMBER, name)})
        return "ok" if reply["ok"] else str(reply["error"]["code"])

    assert await join("r1", "Waits") == "ok"
    assert await join("r1", "Second") == "waiting_room_full"
    assert await join("r2", "Elsewhere") == "server_full"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_allows_its_burst_then_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now = 0.5
    assert bucket.take() and not bucket.take()
    clock.now = 100
    assert sum(bucket.take() for _ in range(10)) == 3  # never more than the burst


def test_attempts_per_minute_slide() -> None:
    clock = FakeClock()
    joins = AttemptsPerMinute(2, clock=clock)
    assert joins.allow("a") and joins.allow("a") and not joins.allow("a")
    assert joins.allow("b")
    clock.now = 60
    assert joins.allow("a")
    assert AttemptsPerMinute(0, clock=clock).allow("a")  # 0: off
