"""Shared fixtures: a real server on an ephemeral port, and real Socket.IO clients."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import web

from rooms import Clock, Role
from server.app import MediaFactory, create_app
from server.app_keys import CLOCK, SIGNER, STORE
from server.config import Config, server_tls_context
from server.links import mint_join_link
from signaling.tokens import TokenSigner
from tests.redis_server import RedisServer

TEST_SECRET = "test-secret-" + "x" * 40
ADMIN_KEY = "admin-key-for-tests"


async def wait_until(
    condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll a condition until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class RunningServer:
    app: web.Application
    url: str
    config: Config

    @property
    def signer(self) -> TokenSigner:
        return self.app[SIGNER]

    def token(self, room: str, role: Role, name: str, ttl_s: int = 600) -> str:
        link = mint_join_link(
            self.signer,
            self.url,
            room_id=room,
            role=role,
            display_name=name,
            ttl_s=ttl_s,
            now=self.app[CLOCK].now(),
        )
        return link.token

    def room(self, room_id: str) -> Any:
        return self.app[STORE].get(room_id)


@dataclass
class Client:
    """A real Socket.IO client that records every event it receives."""

    sio: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)
    participant_id: str | None = None

    def received(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    async def call(self, event: str, data: Any = None, timeout: float = 10) -> dict[str, Any]:
        reply: dict[str, Any] = await self.sio.call(event, data, timeout=timeout)
        return reply

    async def wait_for(
        self, name: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 5.0
    ) -> Any:
        await wait_until(
            lambda: any(predicate(d) for d in self.received(name)), timeout, f"event {name}"
        )
        return next(d for d in self.received(name) if predicate(d))


ClientFactory = Callable[[], Awaitable[Client]]


async def start_server(
    tmp_path: Path,
    media_factory: MediaFactory | None = None,
    clock: Clock | None = None,
    **overrides: Any,
) -> tuple[web.AppRunner, RunningServer]:
    settings: dict[str, Any] = {
        "secret": TEST_SECRET,
        "admin_api_key": ADMIN_KEY,
        "state_dir": tmp_path,
        "web_dir": tmp_path / "web",
    }
    # Bound before the app is made, so its configuration (and with it the allowed
    # origins and the CSP) names the real port. ``host`` (an IPv4 address): where a
    # client in another network namespace reaches it.
    host = str(overrides.get("host", "127.0.0.1"))
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind((host, 0))
    port = listening.getsockname()[1]
    config = replace(Config(), **(settings | overrides | {"port": port}))
    app = create_app(config, media_factory=media_factory, clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, listening, ssl_context=server_tls_context(config))
    await site.start()
    url = f"{'https' if config.tls else 'http'}://{host}:{port}"
    return runner, RunningServer(app, url, config)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A signaling-only server (no media plane) on an ephemeral port."""
    runner, running = await start_server(tmp_path)
    yield running
    await runner.cleanup()


@pytest.fixture
async def connect(server: RunningServer) -> AsyncIterator[ClientFactory]:
    clients: list[Client] = []

    async def factory() -> Client:
        sio = socketio.AsyncClient(reconnection=False)
        client = Client(sio)

        async def record(event: str, data: Any = None) -> None:
            client.events.append((event, data))

        sio.on("*", record)
        await sio.connect(server.url, transports=["websocket"], wait_timeout=5)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        if client.sio.connected:
            await client.sio.disconnect()


async def joined(
    connect: ClientFactory, server: RunningServer, room: str, role: Role, name: str, **extra: Any
) -> tuple[Client, dict[str, Any]]:
    client = await connect()
    reply = await client.call("join", {"token": server.token(room, role, name), **extra})
    assert reply["ok"], reply
    client.participant_id = reply["snapshot"]["you"]["participant_id"]
    return client, reply["snapshot"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under CI=true a skip is a failure: CI must never pass by not running a test."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which allows no skips: {report.longrepr}"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free port for this test, killed at teardown."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
