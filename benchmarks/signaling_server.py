"""A real ``groupsession serve`` process for the signaling benchmarks, and what their
clients need to reach it: join links signed with its secret, and connected sockets.

Loopback only; the process is stopped when the block ends, whatever happened.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import socketio

from rooms import Role
from server.links import mint_join_link
from signaling.tokens import TokenSigner

SECRET = "benchmark-secret-" + "k" * 40
ROOM = "signaling-bench"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def join_token(url: str, role: Role, name: str, room: str = ROOM) -> str:
    """A join link's token for ``room`` (the benchmark's own by default), signed as the
    server expects."""
    link = mint_join_link(
        TokenSigner(SECRET),
        url,
        room_id=room,
        role=role,
        display_name=name,
        ttl_s=3600,
        now=time.time(),
    )
    return link.token


async def connected_client(url: str) -> socketio.AsyncClient:
    """A Socket.IO client connected to ``url``, retried while the server starts."""
    client = socketio.AsyncClient(reconnection=False)
    deadline = time.monotonic() + 30
    while True:
        try:
            await client.connect(url, transports=["websocket"], wait_timeout=5)
            return client
        except socketio.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@contextmanager
def serving(
    settings: Mapping[str, str] = {}, module: str = "server"
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run a server on a free loopback port with ``settings`` (GROUPSESSION_* variables)
    added to its environment; yields its URL and process. ``module`` is what
    ``python -m`` runs: the server itself, or a benchmark's wrapper around it."""
    port = free_port()
    with tempfile.TemporaryDirectory() as state:
        env = {
            **os.environ,
            "GROUPSESSION_SECRET": SECRET,
            "GROUPSESSION_STATE_DIR": state,
            "GROUPSESSION_WEB_DIR": str(Path(state) / "web"),
            "GROUPSESSION_LOG_LEVEL": "WARNING",
            **settings,
        }
        server = subprocess.Popen(
            [sys.executable, "-m", module, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield f"http://127.0.0.1:{port}", server
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
