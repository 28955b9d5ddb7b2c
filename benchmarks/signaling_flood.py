"""Flood benchmark: one abusive client at full speed while a well-behaved room runs.

The server runs in its own process (``groupsession serve``, signaling only is not
needed: media is simply not used), the flooder in another, and the measuring client
here. The measuring member raises and lowers a hand, one command at a time, and
records each acknowledgement's latency. Three runs: no flood, a flood against the
default limits, and a flood with the message limit off (to show what it buys).

    .venv/bin/python -m benchmarks.signaling_flood --duration 10

Prints one JSON object; the goal is the flooded p99 at most 50 ms. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import socketio

from rooms import Role
from server.links import mint_join_link
from signaling.tokens import TokenSigner

SECRET = "benchmark-secret-" + "k" * 40
ROOM = "flood-bench"
IN_FLIGHT = 64  # the flooder's outstanding messages


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _token(url: str, role: Role, name: str) -> str:
    link = mint_join_link(
        TokenSigner(SECRET),
        url,
        room_id=ROOM,
        role=role,
        display_name=name,
        ttl_s=3600,
        now=time.time(),
    )
    return link.token


async def _client(url: str) -> socketio.AsyncClient:
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


def _flood(url: str, token: str, seconds: float, counts: Any) -> None:
    """In its own process: send as fast as the server answers, IN_FLIGHT at a time."""

    async def run() -> None:
        client = await _client(url)
        assert (await client.call("join", {"token": token}, timeout=10))["ok"]
        stop = time.monotonic() + seconds

        async def worker(i: int) -> None:
            while time.monotonic() < stop:
                reply = await client.call("raise_hand" if i % 2 else "lower_hand", {}, timeout=30)
                refused = None if reply["ok"] else reply["error"]["code"]
                counts[0 if refused is None else 1 if refused == "rate_limited" else 2] += 1

        await asyncio.gather(*(worker(i) for i in range(IN_FLIGHT)))
        await client.disconnect()

    asyncio.run(run())


async def _measure(url: str, seconds: float) -> list[float]:
    fac = await _client(url)
    assert (await fac.call("join", {"token": _token(url, Role.FACILITATOR, "Fac")}))["ok"]
    await fac.call("update_settings", {"auto_admit": True})
    member = await _client(url)
    assert (await member.call("join", {"token": _token(url, Role.MEMBER, "Calm")}))["ok"]
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    i = 0
    while time.monotonic() < stop:
        started = time.perf_counter()
        reply = await member.call("raise_hand" if i % 2 == 0 else "lower_hand", {}, timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
        assert reply["ok"], reply
        i += 1
        await asyncio.sleep(0.1)  # 10 a second: far busier than a person, under the limit
    await member.disconnect()
    await fac.disconnect()
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _run(seconds: float, flood: bool, rate_limit: int | None) -> dict[str, Any]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as state:
        env = {
            **os.environ,
            "GROUPSESSION_SECRET": SECRET,
            "GROUPSESSION_STATE_DIR": state,
            "GROUPSESSION_WEB_DIR": str(Path(state) / "web"),
            "GROUPSESSION_LOG_LEVEL": "WARNING",
        }
        if rate_limit is not None:
            env["GROUPSESSION_RATE_LIMIT"] = str(rate_limit)
        server = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            counts = multiprocessing.get_context("spawn").Array("l", [0, 0, 0])
            flooder = None
            if flood:
                flooder = multiprocessing.get_context("spawn").Process(
                    target=_flood,
                    # A co-facilitator's link: admitted at once, so its commands really run.
                    args=(url, _token(url, Role.COFACILITATOR, "Flood"), seconds + 2, counts),
                )
                flooder.start()
                time.sleep(1.0)  # the flood is running before measuring starts
            latencies = asyncio.run(_measure(url, seconds))
            if flooder is not None:
                flooder.join(timeout=seconds + 30)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return {
        "acks": len(latencies),
        "ack_ms_p50": round(statistics.median(latencies), 2),
        "ack_ms_p99": round(_percentile(latencies, 0.99), 2),
        "ack_ms_max": round(max(latencies), 2),
        "flood_answered_ok": counts[0],
        "flood_rate_limited": counts[1],
        "flood_refused_otherwise": counts[2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    args = parser.parse_args()
    seconds = min(max(args.duration, 2.0), 120.0)
    results = {
        "duration_s": seconds,
        "no_flood": _run(seconds, flood=False, rate_limit=None),
        "flood_default_limits": _run(seconds, flood=True, rate_limit=None),
        "flood_no_message_limit": _run(seconds, flood=True, rate_limit=0),
        "goal_flooded_p99_ms": 50,
    }
    results["goal_met"] = results["flood_default_limits"]["ack_ms_p99"] <= 50
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
