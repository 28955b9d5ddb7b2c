"""`groupsession serve --workers N`: one command, N nodes sharing one public port
(SO_REUSEPORT), each reachable on its own port for redirected joins; rooms spread
over the workers, a dead worker is started again, SIGTERM stops them all. Real
processes and a real Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio

from rooms import Role
from server.cluster import node_id_for
from tests.redis_server import RedisServer
from tests.server.durable.test_cluster import join_following_redirects
from tests.server.processes import ServerProcess, children_of, serve_workers
from tests.server.sfu.peers import eventually_async
from tests.server.test_cli import _env, groupsession

WORKERS = 2


async def ready(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


@pytest.fixture
def workers(
    tmp_path: Path, redis_server: RedisServer
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    with serve_workers(tmp_path, redis_server.url, WORKERS) as started:
        yield started


async def test_workers_share_a_port_and_spread_rooms(
    workers: tuple[subprocess.Popen[bytes], int, Path], redis_server: RedisServer
) -> None:
    process, port, log = workers
    shared = f"http://127.0.0.1:{port}"
    node_urls = [f"http://127.0.0.1:{port + 1 + i}" for i in range(WORKERS)]
    for url in (shared, *node_urls):
        await eventually_async(lambda url=url: ready(url), 30, f"{url} ready", 0.2)
    tokens = ServerProcess(Path("unused"), port=port)  # mints links for the shared address
    raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    clients: list[socketio.AsyncClient] = []

    def client() -> socketio.AsyncClient:
        clients.append(socketio.AsyncClient(reconnection=False))
        return clients[-1]

    try:
        # Both workers are nodes, each under its own address.
        registered = await raw.zrange("gs:nodes", 0, -1)
        assert sorted(registered) == sorted(node_id_for(url) for url in node_urls)

        fran = client()
        waiting_seen: list[Any] = []

        async def on_waiting(data: Any) -> None:
            waiting_seen.append(data)

        fran.on("participant_waiting", on_waiting)
        reply, _ = await join_following_redirects(
            fran, shared, tokens.token("w1", Role.FACILITATOR, "Fran")
        )
        assert reply["ok"], reply

        async def loaded() -> bool:
            for url in node_urls:
                stored = await raw.get(f"gs:node:{node_id_for(url)}")
                if stored is not None and json.loads(stored)["load"] >= 1:
                    return True
            return False

        await eventually_async(loaded, 15, "a worker reporting Fran", 0.2)
        gil = client()
        reply, _ = await join_following_redirects(
            gil, shared, tokens.token("w2", Role.FACILITATOR, "Gil")
        )
        assert reply["ok"], reply
        assert await raw.get("gs:placement:w1") != await raw.get("gs:placement:w2")
        # Through the shared port, whichever worker it reaches, Ann lands in Fran's room.
        ann = client()
        reply, _ = await join_following_redirects(
            ann, shared, tokens.token("w1", Role.MEMBER, "Ann")
        )
        assert reply["ok"] and reply["snapshot"]["you"]["state"] == "waiting"
        ann_id = reply["snapshot"]["you"]["participant_id"]

        async def fran_told() -> bool:
            return any(w["participant"]["participant_id"] == ann_id for w in waiting_seen)

        await eventually_async(fran_told, 10, "Fran told that Ann waits", 0.1)

        # A worker that dies is started again (the same node: its address, its rooms).
        before = children_of(process.pid)
        assert len(before) == WORKERS
        os.kill(before[0], signal.SIGKILL)

        async def replaced() -> bool:
            now = children_of(process.pid)
            return len(now) == WORKERS and before[0] not in now

        await eventually_async(replaced, 15, "the dead worker started again", 0.2)
        for url in node_urls:
            await eventually_async(lambda url=url: ready(url), 30, f"{url} ready again", 0.2)

        for each in clients:
            await each.disconnect()
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while process.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        assert process.returncode == 0, log.read_text()
        assert children_of(process.pid) == []
    finally:
        for each in clients:
            if each.connected:
                await each.disconnect()
        await raw.aclose()


def test_workers_without_redis_are_refused_clearly(tmp_path: Path) -> None:
    result = groupsession("serve", "--workers", "2", env=_env(tmp_path))
    assert result.returncode == 2
    assert "--workers needs Redis" in result.stderr
