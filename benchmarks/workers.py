"""Rooms held at target quality by `groupsession serve --workers 1` and `--workers 2`.

Prints one JSON object as its last line. Run as root from the repository root:

    .venv/bin/python -m benchmarks.workers --max-rooms 8 --duration 10

For each worker count, inside a network namespace of its own (benchmarks/netns.py:
aioice will not gather loopback candidates), it starts a real ``redis-server`` and
the real ``groupsession serve --workers N --redis-url ...`` (N processes, each a node;
with N = 1 the one process is the node), then adds rooms of ``--room-size``
participants one at a time. Each room is a process of its own running the load
clients of benchmarks/load.py (pre-encoded video and audio, counted, never decoded)
over real Socket.IO: a facilitator joins through the public port first and turns on
auto-admit, the others follow, every client follows ``wrong_node`` to the room's
node, publishes, subscribes. Rooms are placed by the cluster (the least loaded
node), so with two workers their media is forwarded by different processes; where
each room went is read from Redis and reported.

After each room is added and every participant receives everyone else, every room
is measured for ``--duration`` seconds at once. A room is held at target quality
when it lost nothing (sequence numbers at every receiver) and its added latency
p95 is at most 5 ms. The added latency is measured by the receiving clients, not
inside the server as benchmarks/media_forwarding.py does: each packet's transit
(arrival less its RTP media time) over the smallest transit seen on its stream
(benchmarks/load.py, StreamCount). That is stricter than the server's own figure:
it holds every queue on the path, the publisher's and the subscriber's event loops
too. Adding rooms stops at the first that misses the target (the rooms held are
those before it), at ``--max-rooms`` or after ``--time-limit`` seconds.

The load clients run on the same 2 cores as the server. Their CPU, and the server
workers', are measured over each window (``clients_cpu_cores_per_room``,
``server_cpu_cores``); ``cpu_bound_rooms`` is what the machine's cores could hold
at those rates, server and clients together: the clients' own CPU caps the ratio
this machine can show. ``server_only_bound_rooms`` projects what N workers would
hold with a core each and the clients elsewhere. Each window also records the
machine's load average: it is shared, and other work there shows in the latency.

Then the moderation latency with the Redis store and with the in-memory one
(benchmarks/moderation_latency.py, on loopback) is added to the output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import redis
import socketio

from benchmarks import moderation_latency
from benchmarks.load import Clip, LoadClient, encode_clip, until
from benchmarks.measures import bounded, children_of, percentile, udp_receive_buffer_errors
from benchmarks.netns import NamespaceUnavailable, ScenarioFailed, network_namespace
from rooms import Role
from server.cluster import node_id_for
from server.links import mint_join_link
from server.redis_keys import RedisKeys
from signaling.media import ForwardedTrack, TrackKind
from signaling.tokens import TokenSigner

# The target quality of a room.
TARGET_LOSS = 0
TARGET_ADDED_P95_MS = 5.0
# The public port inside the benchmark's own namespace, where every port is free.
PORT = 8470
CONNECT_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 30.0
WARMUP_S = 2.0
# Bounds on a run: rooms, room size, seconds per window, seconds per worker count.
ROOMS_RANGE = (1, 30)
ROOM_SIZE_RANGE = (2, 12)
DURATION_RANGE_S = (1.0, 120.0)
TIME_LIMIT_RANGE_S = (30.0, 3600.0)
CPUS = os.cpu_count() or 1


# -- one room: a process of load clients ------------------------------------------------


class SocketIoLink:
    """A load client's ServerLink over Socket.IO, as the web client talks to the server."""

    def __init__(self, sio: socketio.AsyncClient) -> None:
        self.sio = sio

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = await self.sio.call(event, data, timeout=30)
        if not reply.get("ok"):
            raise RuntimeError(f"{event} refused: {reply.get('error')}")
        return reply

    async def publish(self, participant_id: str, offer_sdp: str) -> str:
        reply = await self.call("publish", {"sdp": offer_sdp, "type": "offer"})
        return str(reply["sdp"])

    async def subscriber_answer(self, participant_id: str, answer_sdp: str, revision: int) -> None:
        # A stale revision is refused when a newer offer is on its way: that one counts.
        await self.sio.call(
            "subscriber_answer", {"sdp": answer_sdp, "type": "answer", "revision": revision}
        )


async def join_room(
    sio: socketio.AsyncClient, entry: str, token: str, timeout_s: float = CONNECT_TIMEOUT_S
) -> tuple[dict[str, Any], str]:
    """Join at the entry address, following ``wrong_node`` to the room's node, as the
    web client does. The reply and the address that took the join."""
    deadline = time.monotonic() + timeout_s
    url = entry
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no node took the join (last tried {url})")
        await sio.connect(url, transports=["websocket"], wait_timeout=10)
        payload = {"token": token, "microphone": True, "camera": True}
        reply: dict[str, Any] = await sio.call("join", payload, timeout=30)
        if reply["ok"]:
            return reply, url
        await sio.disconnect()
        if reply["error"]["code"] != "wrong_node":
            raise RuntimeError(f"join refused: {reply['error']}")
        url = reply["error"]["node_url"]


def _room_process(
    commands: Connection, entry: str, room: str, size: int, secret: str, clip: Clip
) -> None:
    try:
        asyncio.run(_room(commands, entry, room, size, secret, clip))
    except Exception as error:  # the driver is told, and stops adding rooms
        commands.send(("failed", f"{type(error).__name__}: {error}"))


async def _room(
    commands: Connection, entry: str, room: str, size: int, secret: str, clip: Clip
) -> None:
    loop = asyncio.get_running_loop()
    signer = TokenSigner(secret)
    clients: list[LoadClient] = []
    sockets: list[socketio.AsyncClient] = []
    answering: list[asyncio.Lock] = []
    tasks: set[asyncio.Task[None]] = set()
    nodes: list[str] = []

    async def enter(number: int) -> None:
        role = Role.FACILITATOR if number == 0 else Role.MEMBER
        link = mint_join_link(
            signer, entry, room_id=room, role=role, display_name=f"P{number}", ttl_s=3600,
            now=time.time(),
        )  # fmt: skip
        sio = socketio.AsyncClient(reconnection=False)
        server = SocketIoLink(sio)
        client = LoadClient(f"p{number}", clip, server, measure_transit=True)
        lock = asyncio.Lock()

        async def answer(offer: dict[str, Any]) -> None:
            tracks = [
                ForwardedTrack(t["mid"], t["participant_id"], TrackKind(t["kind"]))
                for t in offer["tracks"]
            ]
            async with lock:  # one negotiation at a time on the subscribe connection
                await client.take_offer(offer["sdp"], offer["revision"], tracks)

        def on_offer(offer: dict[str, Any]) -> None:
            task = loop.create_task(answer(offer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        sio.on("subscriber_offer", on_offer)
        reply, url = await join_room(sio, entry, link.token)
        client.participant_id = reply["snapshot"]["you"]["participant_id"]
        if number == 0:
            await server.call("update_settings", {"auto_admit": True})
        clients.append(client)
        sockets.append(sio)
        answering.append(lock)
        nodes.append(url)

    try:
        for number in range(size):
            await enter(number)
        for client in clients:
            await client.publish()
        for sio in sockets:
            await SocketIoLink(sio).call("subscribe", {})
        ids = [c.participant_id for c in clients]
        await until(
            lambda: all(c.receiving_from_all([p for p in ids if p != c.participant_id])
                        for c in clients),
            CONNECT_TIMEOUT_S,
            f"everyone in {room} receiving everyone else's video",
        )  # fmt: skip
        commands.send(("ready", sorted(set(nodes))))
        started = (time.perf_counter(), os.times())
        while True:
            command = await loop.run_in_executor(None, commands.recv)
            streams = [s for c in clients for s in c.streams.values()]
            if command == "start":
                for stream in streams:
                    stream.transits.clear()
                    stream.server_transits.clear()
                    stream.received = stream.highest = 0
                    stream.base = None
                    stream.counting = True
                started = (time.perf_counter(), os.times())
            elif command == "stop":
                ended = (time.perf_counter(), os.times())
                for stream in streams:
                    stream.counting = False
                cpu = (ended[1].user - started[1].user) + (ended[1].system - started[1].system)
                received = sum(s.received for s in streams)
                expected = sum(s.expected for s in streams)
                delays = [d for s in streams for d in s.server_added_delays_ms()]
                end_to_end = [d for s in streams for d in s.added_delays_ms()]
                commands.send(
                    (
                        "measured",
                        {
                            "received": received,
                            "lost": max(expected - received, 0),
                            "added_ms": [percentile(delays, q) for q in (0.5, 0.95, 0.99)],
                            "end_to_end_ms": [percentile(end_to_end, q) for q in (0.5, 0.95, 0.99)],
                            "clients_cpu_cores": cpu / (ended[0] - started[0]),
                        },
                    )
                )
            else:
                break
    finally:
        for sio in sockets:
            if sio.connected:
                await sio.disconnect()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    commands.send(("bye",))


# -- one worker count, inside the namespace ---------------------------------------------


class Serve:
    """``groupsession serve --workers N`` as an operator starts it, on a real Redis."""

    def __init__(self, workers: int, redis_url: str, state_dir: Path, secret: str) -> None:
        self.workers = workers
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSESSION_")}
        env |= {
            "GROUPSESSION_SECRET": secret,
            "GROUPSESSION_STATE_DIR": str(state_dir),
            "GROUPSESSION_WEB_DIR": str(state_dir / "web"),
            # Every participant joins from 127.0.0.1: the per-address join limit
            # (30 a minute) is for people, not for a benchmark's rooms.
            "GROUPSESSION_JOINS_PER_MINUTE": "0",
        }
        self.log = state_dir / "serve.log"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--workers", str(workers),
                 "--port", str(PORT), "--redis-url", redis_url],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    @property
    def entry(self) -> str:
        return f"http://127.0.0.1:{PORT}"

    def node_urls(self) -> list[str]:
        if self.workers == 1:
            return [self.entry]
        return [f"http://127.0.0.1:{PORT + 1 + i}" for i in range(self.workers)]

    def node_pids(self) -> dict[str, int]:
        """Each node's address -> the pid of the process that forwards its rooms' media."""
        if self.workers == 1:
            return {self.entry: self.process.pid}
        found = {}
        for pid in children_of(self.process.pid):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"--node-port" in argv:
                port = int(argv[argv.index(b"--node-port") + 1])
                found[f"http://127.0.0.1:{port}"] = pid
        return found

    async def ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        async with aiohttp.ClientSession() as http:
            for url in [self.entry, *self.node_urls()]:
                while True:
                    if self.process.poll() is not None:
                        raise RuntimeError(f"serve exited: {self.log.read_text()[-2000:]}")
                    try:
                        async with http.get(url + "/readyz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"serve not ready: {self.log.read_text()[-2000:]}")
                    await asyncio.sleep(0.2)

    def stop(self) -> None:
        children = children_of(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat; 12 and 13 after the ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Room:
    def __init__(self, number: int, entry: str, size: int, secret: str, clip: Clip) -> None:
        context = multiprocessing.get_context("spawn")
        self.name = f"room-{number}"
        self.commands, theirs = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_room_process, args=(theirs, entry, self.name, size, secret, clip), daemon=True
        )
        self.process.start()

    async def receive(self, timeout_s: float) -> tuple[Any, ...]:
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self.commands.poll, timeout_s)
        if not ready:
            raise TimeoutError(f"{self.name} said nothing in {timeout_s} s")
        message: tuple[Any, ...] = self.commands.recv()
        if message[0] == "failed":
            raise RuntimeError(f"{self.name}: {message[1]}")
        return message

    def close(self) -> None:
        try:
            self.commands.send("quit")
            if self.commands.poll(30):
                self.commands.recv()
        except (OSError, EOFError):
            pass
        self.process.join(timeout=15)
        if self.process.is_alive():
            self.process.kill()


async def measure_workers(
    workers: int, max_rooms: int, size: int, duration_s: float, time_limit_s: float
) -> dict[str, Any]:
    """Add rooms on ``serve --workers N`` until one misses the target; what was held."""
    started = time.monotonic()
    clip = encode_clip()
    secret = secrets.token_urlsafe(48)
    steps: list[dict[str, Any]] = []
    held = 0
    stopped_because = f"--max-rooms {max_rooms} reached"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        redis_process, redis_url = moderation_latency.start_redis(workdir)
        serve = Serve(workers, redis_url, workdir, secret)
        store = redis.Redis.from_url(redis_url, decode_responses=True)
        rooms: list[Room] = []
        try:
            await serve.ready()
            pids = serve.node_pids()
            node_of = {node_id_for(url): url for url in serve.node_urls()}
            for number in range(1, max_rooms + 1):
                if time.monotonic() - started > time_limit_s:
                    stopped_because = f"--time-limit {time_limit_s:g} s reached"
                    break
                room = Room(number, serve.entry, size, secret, clip)
                rooms.append(room)
                try:
                    await room.receive(CONNECT_TIMEOUT_S * 2)
                except (RuntimeError, TimeoutError) as error:
                    stopped_because = f"room {number} could not be set up: {error}"
                    break
                await asyncio.sleep(WARMUP_S)
                try:
                    step = await _window(rooms, pids, duration_s)
                except (RuntimeError, TimeoutError) as error:
                    stopped_because = f"a room failed with {number} rooms: {error}"
                    break
                placements = [store.get(RedisKeys().placement(r.name)) for r in rooms]
                step["rooms_per_node"] = {
                    url: sum(1 for owner in placements if node_of.get(str(owner)) == url)
                    for url in serve.node_urls()
                }
                steps.append(step)
                if not step["held"]:
                    stopped_because = f"room {number} missed the target"
                    break
                held = number
        finally:
            for room in rooms:
                room.close()
            serve.stop()
            store.close()
            redis_process.kill()
            redis_process.wait()
    return {
        "workers": workers,
        "rooms_held": held,
        "stopped_because": stopped_because,
        "steps": steps,
    }


async def _window(rooms: list[Room], pids: dict[str, int], duration_s: float) -> dict[str, Any]:
    """Every room measured at once for ``duration_s``."""
    server_before = {url: _cpu_seconds(pid) for url, pid in pids.items()}
    drops_before = udp_receive_buffer_errors()
    wall_started = time.perf_counter()
    for room in rooms:
        room.commands.send("start")
    await asyncio.sleep(duration_s)
    for room in rooms:
        room.commands.send("stop")
    wall = time.perf_counter() - wall_started
    server_cpu = {url: (_cpu_seconds(pid) - server_before[url]) / wall for url, pid in pids.items()}
    drops_after = udp_receive_buffer_errors()
    measured = [(await room.receive(60))[1] for room in rooms]
    per_room = [
        {
            "lost": m["lost"],
            "received": m["received"],
            "added_latency_ms": {
                name: round(value, 2)
                for name, value in zip(("p50", "p95", "p99"), m["added_ms"], strict=True)
            },
            "end_to_end_added_ms": {
                name: round(value, 2)
                for name, value in zip(("p50", "p95", "p99"), m["end_to_end_ms"], strict=True)
            },
            "clients_cpu_cores": round(m["clients_cpu_cores"], 3),
        }
        for m in measured
    ]
    held = all(
        r["lost"] <= TARGET_LOSS and r["added_latency_ms"]["p95"] <= TARGET_ADDED_P95_MS
        for r in per_room
    )
    return {
        "rooms": len(rooms),
        "held": held,
        # The machine is shared: how busy it was (1-minute load average, all processes).
        "load_average": round(os.getloadavg()[0], 2),
        "worst_added_latency_p95_ms": max(r["added_latency_ms"]["p95"] for r in per_room),
        "lost": sum(r["lost"] for r in per_room),
        "server_cpu_cores": {url: round(cores, 3) for url, cores in server_cpu.items()},
        "clients_cpu_cores": round(sum(r["clients_cpu_cores"] for r in per_room), 3),
        "udp_receive_buffer_drops": (
            None if drops_before is None or drops_after is None else drops_after - drops_before
        ),
        "per_room": per_room,
    }


# -- the whole run ----------------------------------------------------------------------


def _cpu_bound_rooms(result: dict[str, Any]) -> float | None:
    """The rooms this machine's cores could hold at the rates the last held window
    measured (server and clients together): the ceiling on any worker count here."""
    held = [s for s in result["steps"] if s["held"]]
    if not held:
        return None
    last = held[-1]
    per_room = (sum(last["server_cpu_cores"].values()) + last["clients_cpu_cores"]) / last["rooms"]
    return round(CPUS / per_room, 1) if per_room > 0 else None


def run_benchmark(
    worker_counts: Sequence[int],
    max_rooms: int,
    size: int,
    duration_s: float,
    time_limit_s: float,
    moderation_commands: int,
) -> dict[str, Any]:
    by_workers: dict[str, Any] = {}
    with network_namespace("gsw") as namespace:
        for workers in worker_counts:
            by_workers[str(workers)] = namespace.run_module(
                "benchmarks.workers", "--inside", str(workers),
                "--max-rooms", str(max_rooms), "--room-size", str(size),
                "--duration", str(duration_s), "--time-limit", str(time_limit_s),
                timeout_s=time_limit_s + duration_s + 300,
            )  # fmt: skip
    for result in by_workers.values():
        held = [s for s in result["steps"] if s["held"]]
        result["cpu_bound_rooms"] = _cpu_bound_rooms(result)
        result["clients_cpu_cores_per_room"] = (
            round(held[-1]["clients_cpu_cores"] / held[-1]["rooms"], 3) if held else None
        )
        result["server_cpu_cores_per_room"] = (
            round(sum(held[-1]["server_cpu_cores"].values()) / held[-1]["rooms"], 3)
            if held
            else None
        )
        # A projection, not a measurement: the rooms N workers would hold if each had a
        # core of its own and the clients ran elsewhere (one core per worker process).
        per_room = result["server_cpu_cores_per_room"]
        result["server_only_bound_rooms"] = (
            round(result["workers"] / per_room, 1) if per_room else None
        )
    counts = [str(n) for n in worker_counts]
    ratio = None
    if len(counts) >= 2 and by_workers[counts[0]]["rooms_held"] > 0:
        ratio = round(by_workers[counts[-1]]["rooms_held"] / by_workers[counts[0]]["rooms_held"], 2)
    moderation = asyncio.run(moderation_latency.run(members=8, commands=moderation_commands))
    return {
        "benchmark": "workers",
        "cpus": CPUS,
        "room_size": size,
        "duration_s": duration_s,
        "target": {"lost": TARGET_LOSS, "added_latency_p95_ms": TARGET_ADDED_P95_MS},
        "latency_note": (
            "added latency as the receiving clients see it: a packet's transit over its "
            "stream's fastest, so it includes the load clients' own queues"
        ),
        "rooms_held": {n: by_workers[n]["rooms_held"] for n in counts},
        "ratio": ratio,
        "by_workers": by_workers,
        "moderation_latency": moderation,
    }


def parser() -> argparse.ArgumentParser:
    arguments = argparse.ArgumentParser(
        prog="python -m benchmarks.workers",
        description="Rooms held at target quality by serve --workers 1 and 2; prints JSON last.",
    )
    arguments.add_argument(
        "--workers", type=bounded(int, 1, 8), nargs="+", default=[1, 2],
        help="worker counts to compare, the first being the base of the ratio (default 1 2)",
    )  # fmt: skip
    arguments.add_argument(
        "--max-rooms", type=bounded(int, *ROOMS_RANGE), default=10,
        help="stop adding rooms after this many, 1-30 (default 10)",
    )  # fmt: skip
    arguments.add_argument(
        "--room-size", type=bounded(int, *ROOM_SIZE_RANGE), default=8,
        help="participants per room, 2-12 (default 8)",
    )  # fmt: skip
    arguments.add_argument(
        "--duration", type=bounded(float, *DURATION_RANGE_S), default=10.0,
        help="seconds each measurement window lasts, 1-120 (default 10)",
    )  # fmt: skip
    arguments.add_argument(
        "--time-limit", type=bounded(float, *TIME_LIMIT_RANGE_S), default=900.0,
        help="seconds of adding rooms per worker count, 30-3600 (default 900)",
    )  # fmt: skip
    arguments.add_argument(
        "--moderation-commands", type=bounded(int, 10, 10_000), default=400,
        help="moderation commands timed per store, 10-10000 (default 400)",
    )  # fmt: skip
    # Run by the benchmark itself inside its namespace, for one worker count.
    arguments.add_argument("--inside", type=int, help=argparse.SUPPRESS)
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.inside is not None:
        result = asyncio.run(
            measure_workers(
                args.inside, int(args.max_rooms), int(args.room_size), float(args.duration),
                float(args.time_limit),
            )
        )  # fmt: skip
        print(json.dumps(result))
        return 0
    try:
        figures = run_benchmark(
            [int(n) for n in args.workers], int(args.max_rooms), int(args.room_size),
            float(args.duration), float(args.time_limit), int(args.moderation_commands),
        )  # fmt: skip
    except NamespaceUnavailable as error:
        print(f"benchmarks.workers: needs a network namespace: {error}", file=sys.stderr)
        return 2
    except ScenarioFailed as error:
        print(f"benchmarks.workers: {error}", file=sys.stderr)
        return 1
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
