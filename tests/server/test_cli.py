"""The `groupsession` command as a user runs it: real processes, a real port."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio

from tests.conftest import wait_until


def _env(state_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSESSION_")}
    env.update({"GROUPSESSION_STATE_DIR": str(state_dir), **extra})
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def groupsession(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str], list[str]]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port), "--demo-room", "demo"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while not any(line.startswith("member link:") for line in lines):
        assert time.monotonic() < deadline, f"serve printed: {lines}"
        line = process.stdout.readline()
        assert line or process.poll() is None, f"serve exited: {lines}"
        lines.append(line.strip())
    yield port, process, lines
    process.terminate()
    process.wait(timeout=15)


def test_token_prints_a_link_last(tmp_path: Path) -> None:
    result = groupsession(
        "token", "--room", "r1", "--role", "member", "--name", "Ana", env=_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("http://127.0.0.1:8080/#token=")
    assert (tmp_path / "dev-secret").stat().st_mode & 0o077 == 0  # readable by its owner only


@pytest.mark.parametrize(
    "args",
    [
        ["token", "--room", "bad room", "--role", "member", "--name", "Ana"],
        ["token", "--room", "r1", "--role", "member", "--name", ""],
        ["token", "--room", "r1", "--role", "member", "--name", "Ana", "--ttl", "-5"],
    ],
)
def test_token_refuses_bad_input(tmp_path: Path, args: list[str]) -> None:
    result = groupsession(*args, env=_env(tmp_path))
    assert result.returncode == 2 and "groupsession:" in result.stderr


def test_production_requires_a_secret(tmp_path: Path) -> None:
    env = _env(tmp_path, GROUPSESSION_ENV="production")
    result = groupsession("token", "--room", "r1", "--role", "member", "--name", "A", env=env)
    assert result.returncode == 2
    assert "GROUPSESSION_SECRET" in result.stderr


def test_serve_then_token_then_join(
    tmp_path: Path, serve: tuple[int, subprocess.Popen[str], list[str]]
) -> None:
    port, _, lines = serve
    assert f"groupsession listening on http://127.0.0.1:{port}" in lines
    assert any(line.startswith("facilitator link: ") for line in lines)
    result = groupsession(
        "token",
        "--room",
        "r1",
        "--role",
        "facilitator",
        "--name",
        "Facilitator",
        "--port",
        str(port),
        env=_env(tmp_path),
    )
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith(f"http://127.0.0.1:{port}/#token=")
    token = url.split("#token=", 1)[1]

    async def join() -> dict[str, object]:
        async with aiohttp.ClientSession() as http:
            health = await http.get(f"http://127.0.0.1:{port}/healthz")
            assert health.status == 200
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(f"http://127.0.0.1:{port}", transports=["websocket"])
        try:
            reply: dict[str, object] = await client.call("join", {"token": token}, timeout=10)
        finally:
            await client.disconnect()
        return reply

    reply = asyncio.run(join())
    assert reply["ok"] is True
    snapshot = reply["snapshot"]
    assert isinstance(snapshot, dict) and snapshot["you"]["display_name"] == "Facilitator"


def test_serve_logs_json_without_names(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path, GROUPSESSION_LOG_FORMAT="json")
    token_run = groupsession(
        "token",
        "--room",
        "r1",
        "--role",
        "member",
        "--name",
        "Quentin Secretname",
        "--port",
        str(port),
        env=env,
    )
    token = token_run.stdout.strip().splitlines()[-1].split("#token=", 1)[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        async def visit() -> None:
            client = socketio.AsyncClient(reconnection=False)
            deadline = time.monotonic() + 30
            while True:
                try:
                    await client.connect(f"http://127.0.0.1:{port}", transports=["websocket"])
                    break
                except socketio.exceptions.ConnectionError:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.1)
            await client.call("join", {"token": token}, timeout=10)
            await client.disconnect()

        asyncio.run(visit())
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    # Ids are the operators' pseudonyms, never the raw room id (it may be meaningful).
    assert '"message": "joined"' in output and '"room_id": "room_' in output
    assert '"room_id": "r1"' not in output
    assert "Quentin" not in output and token not in output


async def test_wait_until_reports_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match="the impossible"):
        await wait_until(lambda: False, timeout=0.05, what="the impossible")
