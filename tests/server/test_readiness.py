"""/readyz: ready only when the process should be sent new sessions; /healthz stays a
liveness check. Draining refuses new Socket.IO sessions and lets current ones go on."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from rooms import Role
from server.app import create_app
from server.config import Config
from server.readiness import READINESS, Phase
from server.sfu import RtpForwardingMediaPlane
from tests.conftest import ClientFactory, RunningServer, joined, start_server, wait_until
from tests.server.test_cli import _env, _free_port, groupsession


async def _get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def test_ready_once_started(server: RunningServer) -> None:
    assert await _get(server.url + "/readyz") == (200, {"ready": True, "status": "ready"})


def test_not_ready_while_starting(tmp_path: Path) -> None:
    # aiohttp listens only once start-up is over, so "starting" is what an app that
    # has not finished starting reports: the last start-up step marks it ready.
    app = create_app(Config(secret="s" * 8 + "0123456789abcdefghijklmnop", state_dir=tmp_path))
    readiness = app[READINESS]
    assert readiness.phase is Phase.STARTING
    assert readiness.problem() == ("starting", "the server is starting")


async def test_draining_refuses_new_sessions_and_keeps_current_ones(
    server: RunningServer, connect: ClientFactory
) -> None:
    member, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fran")
    server.app[READINESS].drain()
    status, body = await _get(server.url + "/readyz")
    assert status == 503
    assert body["ready"] is False and body["reason"] == "draining"
    assert "no new sessions" in body["message"]
    health_status, health = await _get(server.url + "/healthz")
    assert health_status == 200 and health["status"] == "ok"  # alive, just not taking more
    late = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await late.connect(server.url, transports=["websocket"], wait_timeout=5)
    async with aiohttp.ClientSession() as http:
        handshake = await http.get(f"{server.url}/socket.io/?EIO=4&transport=polling")
        assert handshake.status == 503
        assert (await handshake.json())["error"]["code"] == "draining"
    # The session in progress goes on.
    reply = await member.call("raise_hand")
    assert reply["ok"], reply


class FailingMediaPlane(RtpForwardingMediaPlane):
    """The real media plane, made to report a failure as a broken one would."""

    problem: str | None = None

    def health_problem(self) -> str | None:
        return self.problem


@pytest.fixture
async def media_server(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, FailingMediaPlane]]:
    plane = FailingMediaPlane()
    runner, server = await start_server(tmp_path, media_factory=lambda _: plane)
    yield server, plane
    await runner.cleanup()


async def test_not_ready_while_the_media_plane_is_down(
    media_server: tuple[RunningServer, FailingMediaPlane],
) -> None:
    server, plane = media_server
    assert (await _get(server.url + "/readyz"))[0] == 200
    plane.problem = "cannot bind its UDP ports"
    status, body = await _get(server.url + "/readyz")
    assert status == 503
    assert body["reason"] == "dependency_down"
    assert body["message"] == "media plane: cannot bind its UDP ports"
    plane.problem = None
    assert (await _get(server.url + "/readyz"))[0] == 200


def test_sigterm_drains_until_the_last_person_leaves(tmp_path: Path) -> None:
    """The real command: SIGTERM turns /readyz to 503 and refuses newcomers while a
    member is still in; the process exits as soon as they leave, well before the
    drain timeout."""
    port = _free_port()
    env = _env(tmp_path, GROUPSESSION_DRAIN_TIMEOUT="120")
    url = f"http://127.0.0.1:{port}"
    link = groupsession(
        "token", "--room", "r1", "--role", "member", "--name", "Ana", "--port", str(port), env=env
    )
    token = link.stdout.strip().splitlines()[-1].split("#token=", 1)[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    async def scenario() -> None:
        member = socketio.AsyncClient(reconnection=False)
        deadline = time.monotonic() + 30
        while True:
            try:
                await member.connect(url, transports=["websocket"], wait_timeout=5)
                break
            except socketio.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "the server did not come up"
                await asyncio.sleep(0.1)
        assert (await member.call("join", {"token": token}, timeout=10))["ok"]
        process.send_signal(signal.SIGTERM)
        statuses: list[int] = []

        async def draining() -> bool:
            status, body = await _get(url + "/readyz")
            statuses.append(status)
            return status == 503 and body["reason"] == "draining"

        deadline = time.monotonic() + 10
        while not await draining():
            assert time.monotonic() < deadline, statuses
            await asyncio.sleep(0.05)
        late = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await late.connect(url, transports=["websocket"], wait_timeout=5)
        assert member.connected and process.poll() is None
        await member.disconnect()
        await wait_until(lambda: process.poll() is not None, timeout=20, what="the exit")

    try:
        asyncio.run(scenario())
    finally:
        if process.poll() is None:
            process.kill()
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
