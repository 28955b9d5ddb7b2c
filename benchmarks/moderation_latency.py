"""What keeping rooms in Redis adds to a moderation command: prints one JSON line.

A facilitator and ``--members`` members join one room on a real server (signaling
only, on a loopback port, in this process) over real Socket.IO; the facilitator
then mutes a member and lets them unmute again, ``--commands`` times in all, each
timed from send to acknowledgment. Run once with the in-memory store and once
with a real ``redis-server`` this benchmark starts on a free loopback port (no
persistence, killed at the end), where every command is written to Redis before
it is acknowledged. Prints p50/p99 (ms) for each and the added p50/p99. The
room's audit trail grows with every command, and with it the record written, so
late commands cost a little more than early ones. Run from the repository root:
``.venv/bin/python -m benchmarks.moderation_latency``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web

from rooms import Role
from server.app import create_app
from server.config import Config
from server.links import mint_join_link
from signaling.tokens import TokenSigner

SECRET = "benchmark-secret-" + "x" * 40
ROOM = "bench"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("redis-server did not start")
        time.sleep(0.02)


async def measure(workdir: Path, redis_url: str | None, members: int, commands: int) -> list[float]:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    # The per-connection message limit (20 a second, bursts of 60) is for people: a
    # facilitator sending hundreds of timed commands back to back would be refused.
    config = replace(
        Config(), secret=SECRET, state_dir=workdir, web_dir=workdir, port=port,
        redis_url=redis_url, rate_limit_per_s=0,
    )  # fmt: skip
    runner = web.AppRunner(create_app(config, media_factory=None), access_log=None)
    await runner.setup()
    await web.SockSite(runner, listening).start()
    url = f"http://127.0.0.1:{port}"
    signer = TokenSigner(SECRET)
    clients: list[socketio.AsyncClient] = []

    async def join(role: Role, name: str) -> tuple[socketio.AsyncClient, str]:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, transports=["websocket"])
        clients.append(client)
        link = mint_join_link(
            signer, url, room_id=ROOM, role=role, display_name=name, ttl_s=600, now=time.time()
        )
        reply: dict[str, Any] = await client.call("join", {"token": link.token}, timeout=10)
        assert reply["ok"], reply
        return client, link.participant_id

    try:
        facilitator, _ = await join(Role.FACILITATOR, "Facilitator")
        await facilitator.call("update_settings", {"auto_admit": True}, timeout=10)
        targets = [(await join(Role.MEMBER, f"Member {i}"))[1] for i in range(members)]
        timings: list[float] = []
        for i in range(commands):
            target = targets[i % len(targets)]
            event = "mute" if (i // len(targets)) % 2 == 0 else "allow_unmute"
            started = time.perf_counter()
            reply = await facilitator.call(
                event, {"participant_id": target, "device": "microphone"}, timeout=10
            )
            timings.append((time.perf_counter() - started) * 1000)
            assert reply["ok"], reply
        return timings
    finally:
        for client in clients:
            await client.disconnect()
        await runner.cleanup()


def percentiles(timings: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(timings, n=100)
    return {"p50_ms": round(cuts[49], 3), "p99_ms": round(cuts[98], 3)}


async def run(members: int, commands: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        memory = percentiles(await measure(workdir, None, members, commands))
        redis_process, redis_url = start_redis(workdir)
        try:
            redis = percentiles(await measure(workdir, redis_url, members, commands))
        finally:
            redis_process.kill()
            redis_process.wait()
    return {
        "benchmark": "moderation_latency",
        "members": members,
        "commands": commands,
        "in_memory": memory,
        "redis": redis,
        "added_p50_ms": round(redis["p50_ms"] - memory["p50_ms"], 3),
        "added_p99_ms": round(redis["p99_ms"] - memory["p99_ms"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--commands", type=int, default=400)
    args = parser.parse_args()
    if args.members < 1 or args.commands < 10:
        parser.error("at least one member and ten commands")
    print(json.dumps(asyncio.run(run(args.members, args.commands))))


if __name__ == "__main__":
    main()
