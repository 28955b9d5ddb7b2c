"""Load benchmark of a whole server: many rooms of signaling clients, a few with media.

One real server process (``groupsession serve``); ``--rooms`` rooms of
``--clients`` Socket.IO clients each (a facilitator and members, all admitted
automatically); in ``--media-rooms`` of them every client also publishes the
pre-encoded clip and subscribes to everyone else with real aiortc peers
(benchmarks.load), negotiated over its own connection as a browser does. With
media the whole run happens inside a network namespace this benchmark makes
(aioice skips loopback); signaling stays on the namespace's loopback.

For ``--duration`` seconds every client sends a command every ``--interval``
seconds or so: members raise and lower their hand, chat and switch their camera;
the facilitator mutes members, asks them to unmute (they accept) and chats.
Measured:

- command acknowledgement: from a command's send to its acknowledgement;
- fan-out: from the facilitator's ``mute`` (and any chat message) to its event
  reaching the *last* of the room's other clients.

At the end every room's facilitator sends one more chat message and waits until
all clients have it (each connection's events arrive in order, so everything
before it has arrived too); then each client's room, as rebuilt from the events
it received (participants, microphones, cameras, holds, the hand queue), is
compared with a fresh snapshot (a new connection taking the facilitator's seat
over). Any difference counts as lost state; an event that never arrived as a
lost event; a refused command, a failed call, an unexpected disconnect or
media that stopped as an error.

    .venv/bin/python -m benchmarks.signaling_load --rooms 20 --clients 8 --media-rooms 2

Prints one JSON object as its last line; the goal is p99 at most 50 ms for both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from benchmarks.load import encode_clip, until
from benchmarks.measures import bounded, percentile
from benchmarks.netns import network_namespace
from benchmarks.signaling_server import connected_client, join_token, serving
from benchmarks.socket_media import SocketMediaClient
from rooms import Role

GOAL_P99_MS = 50.0
ROOMS_RANGE = (1, 40)
CLIENTS_RANGE = (2, 16)  # a room's default capacity is 16
DURATION_RANGE_S = (1.0, 600.0)
INTERVAL_RANGE_S = (0.2, 30.0)
CALL_TIMEOUT_S = 30.0
MEDIA_FLOWING_TIMEOUT_S = 90.0
SETTLE_TIMEOUT_S = 20.0
SETUP_TIMEOUT_S = 300.0  # every group joined and its media flowing

# (microphone on, microphone held, camera on, camera held) per participant.
DeviceRow = tuple[bool, bool, bool, bool]


def _row(participant: dict[str, Any]) -> DeviceRow:
    mic, cam = participant["microphone"], participant["camera"]
    return (mic["on"], mic["held"], cam["on"], cam["held"])


@dataclass
class RoomView:
    """What one client knows of its room, from its snapshot and the events since."""

    devices: dict[str, DeviceRow] = field(default_factory=dict)
    hand_queue: list[str] = field(default_factory=list)

    def load(self, snapshot: dict[str, Any]) -> None:
        self.devices = {p["participant_id"]: _row(p) for p in snapshot["participants"]}
        self.hand_queue = list(snapshot["hand_queue"])

    def projection(self) -> dict[str, Any]:
        return {"devices": dict(sorted(self.devices.items())), "hand_queue": list(self.hand_queue)}


@dataclass
class Pending:
    """A broadcast on its way: who has yet to receive it."""

    kind: str
    started: float
    waiting_for: set[str]


@dataclass
class Measures:
    acks_ms: dict[str, list[float]] = field(default_factory=dict)
    fanout_ms: dict[str, list[float]] = field(default_factory=dict)
    # How late the load's event loop ran (ms), sampled every half second.
    load_loop_lag_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    pending: dict[tuple[str, ...], Pending] = field(default_factory=dict)
    recording: bool = False

    def expect(self, key: tuple[str, ...], kind: str, receivers: set[str]) -> None:
        self.pending[key] = Pending(kind, time.monotonic(), set(receivers))

    def arrived(self, key: tuple[str, ...], receiver: str) -> None:
        pending = self.pending.get(key)
        if pending is None:
            return
        pending.waiting_for.discard(receiver)
        if not pending.waiting_for:
            del self.pending[key]
            if self.recording:
                elapsed = (time.monotonic() - pending.started) * 1000
                self.fanout_ms.setdefault(pending.kind, []).append(elapsed)


class Client:
    """One signaling client: sends commands, rebuilds its room from the events."""

    def __init__(self, room: str, role: Role, name: str, measures: Measures) -> None:
        self.room = room
        self.role = role
        self.name = name
        self.measures = measures
        self.participant_id = ""
        self.token = ""
        self.view = RoomView()
        self.sio: socketio.AsyncClient | None = None
        self.media: SocketMediaClient | None = None
        self.closing = False
        self.hand_raised = False
        self.camera_on = True
        self.others: set[str] = set()  # the room's other clients, by participant id
        self.tasks: set[asyncio.Task[None]] = set()
        # The facilitator's moderation of each member: "on", "muted" or "asked".
        self.moderation: dict[str, str] = {}

    async def join(self, url: str) -> None:
        self.token = join_token(url, self.role, self.name, self.room)
        self.sio = sio = await connected_client(url)
        for event, handler in (
            ("room_snapshot", self._snapshot),
            ("participant_admitted", self._admitted),
            ("participant_left", self._left),
            ("media_changed", self._media_changed),
            ("hand_queue_changed", self._hands),
            ("chat_message", self._chat),
            ("unmute_requested", self._unmute_requested),
            ("disconnect", self._disconnected),
        ):
            sio.on(event, handler)
        reply = await sio.call(
            "join", {"token": self.token, "microphone": True, "camera": True}, timeout=30
        )
        if not reply["ok"]:
            raise RuntimeError(f"join refused: {reply['error']['code']}")
        snapshot = reply["snapshot"]
        self.participant_id = snapshot["you"]["participant_id"]
        if snapshot["you"]["state"] == "admitted":
            self.view.load(snapshot)

    async def command(self, name: str, payload: dict[str, Any]) -> bool:
        assert self.sio is not None
        started = time.monotonic()
        try:
            reply = await self.sio.call(name, payload, timeout=CALL_TIMEOUT_S)
        except Exception as error:  # a timeout or a closed connection: an error all the same
            self.measures.errors[f"{name}: {type(error).__name__}"] += 1
            return False
        if self.measures.recording:
            elapsed = (time.monotonic() - started) * 1000
            self.measures.acks_ms.setdefault(name, []).append(elapsed)
        if not reply["ok"]:
            self.measures.errors[f"{name}: {reply['error']['code']}"] += 1
            return False
        return True

    # -- events ---------------------------------------------------------------

    async def _snapshot(self, data: dict[str, Any]) -> None:
        self.view.load(data)

    async def _admitted(self, data: dict[str, Any]) -> None:
        participant = data["participant"]
        self.view.devices[participant["participant_id"]] = _row(participant)

    async def _left(self, data: dict[str, Any]) -> None:
        self.view.devices.pop(data["participant_id"], None)

    async def _media_changed(self, data: dict[str, Any]) -> None:
        pid = data["participant_id"]
        mic, cam = data["microphone"], data["camera"]
        self.view.devices[pid] = (mic["on"], mic["held"], cam["on"], cam["held"])
        if data["by"] is not None and not mic["on"]:
            self.measures.arrived(("mute", self.room, pid), self.participant_id)
        if mic["on"] and self.moderation.get(pid) == "asked":
            self.moderation[pid] = "on"

    async def _hands(self, data: dict[str, Any]) -> None:
        self.view.hand_queue = list(data["queue"])

    async def _chat(self, data: dict[str, Any]) -> None:
        self.measures.arrived(("chat", data["message"]["text"]), self.participant_id)

    async def _unmute_requested(self, data: dict[str, Any]) -> None:
        if data["participant_id"] == self.participant_id:
            # Not here: handlers run in the read loop the acknowledgement needs.
            self._spawn(self.command("answer_unmute_request", {"accept": True}))

    async def _disconnected(self, *reason: Any) -> None:
        if not self.closing:
            self.measures.errors["unexpected disconnect"] += 1

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- the command mix ----------------------------------------------------

    async def act(self, rng: random.Random, chat_number: Callable[[], int]) -> None:
        if self.role is Role.FACILITATOR:
            await self._moderate(rng, chat_number)
        else:
            await self._take_part(rng, chat_number)

    async def _chat_once(self, chat_number: Callable[[], int]) -> None:
        text = f"{self.room} message {chat_number()}"
        self.measures.expect(("chat", text), "chat", self.others)
        await self.command("send_chat", {"text": text})

    async def _take_part(self, rng: random.Random, chat_number: Callable[[], int]) -> None:
        choice = rng.random()
        if choice < 0.4:
            name = "lower_hand" if self.hand_raised else "raise_hand"
            if await self.command(name, {}):
                self.hand_raised = not self.hand_raised
        elif choice < 0.7:
            await self._chat_once(chat_number)
        else:
            if await self.command("set_media", {"device": "camera", "on": not self.camera_on}):
                self.camera_on = not self.camera_on

    async def _moderate(self, rng: random.Random, chat_number: Callable[[], int]) -> None:
        choice = rng.random()
        on = [p for p, state in self.moderation.items() if state == "on"]
        muted = [p for p, state in self.moderation.items() if state == "muted"]
        if choice < 0.5 and on:
            target = rng.choice(on)
            self.measures.expect(("mute", self.room, target), "mute", self.others)
            if await self.command("mute", {"participant_id": target}):
                self.moderation[target] = "muted"
        elif choice < 0.8 and muted:
            target = rng.choice(muted)
            self.moderation[target] = "asked"  # before the acceptance can arrive
            await self.command("ask_to_unmute", {"participant_id": target})
        else:
            await self._chat_once(chat_number)

    async def close(self) -> None:
        self.closing = True
        if self.media is not None:
            await self.media.close()
        if self.sio is not None:
            await self.sio.disconnect()


def _percentiles(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    return {
        "count": len(samples),
        "p50": round(percentile(samples, 0.5), 2),
        "p99": round(percentile(samples, 0.99), 2),
        "max": round(max(samples), 2),
    }


def _gauge(metrics: str, name: str) -> float | None:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))


@dataclass(frozen=True)
class Load:
    rooms: int
    clients: int
    media_rooms: int
    duration_s: float
    interval_s: float
    seed: int


@dataclass(frozen=True)
class Group:
    """Rooms one load process drives: media rooms get a process of their own, so that
    their peers' work (aiortc hands every outgoing frame to a thread) does not delay
    the other rooms' signaling clients, as it would not on real clients' machines."""

    rooms: tuple[str, ...]
    media: bool


async def _drive(url: str, group: Group, load: Load, start: Barrier) -> dict[str, Any]:
    """Set the group's rooms up, wait for the others, run the mix, check every view."""
    measures = Measures()
    rng = random.Random(f"{load.seed}-{group.rooms[0]}")
    rooms: dict[str, list[Client]] = {}
    chats = iter(range(10**9))
    # Encoding takes seconds of this loop: before any connection has to be served.
    clip = encode_clip() if group.media else None
    setup_started = time.monotonic()
    for room in group.rooms:
        facilitator = Client(room, Role.FACILITATOR, "Facilitator", measures)
        await facilitator.join(url)
        assert await facilitator.command("update_settings", {"auto_admit": True})
        members = [
            Client(room, Role.MEMBER, f"Member {m}", measures) for m in range(1, load.clients)
        ]
        await asyncio.gather(*(m.join(url) for m in members))
        rooms[room] = [facilitator, *members]
        ids = {c.participant_id for c in rooms[room]}
        for client in rooms[room]:
            client.others = ids - {client.participant_id}
        facilitator.moderation = {m.participant_id: "on" for m in members}
    everyone = [c for clients in rooms.values() for c in clients]
    await until(
        lambda: all(len(c.view.devices) == load.clients for c in everyone),
        SETTLE_TIMEOUT_S,
        "every client seeing its whole room",
    )
    media_clients: list[tuple[SocketMediaClient, set[str]]] = []
    if clip is not None:
        for clients in rooms.values():
            for client in clients:
                assert client.sio is not None
                client.media = SocketMediaClient(client.sio, client.participant_id, clip)
                media_clients.append((client.media, client.others))
            await asyncio.gather(*(c.media.start() for c in clients if c.media is not None))
        await until(
            lambda: all(all(m.receives_from(p) for p in others) for m, others in media_clients),
            MEDIA_FLOWING_TIMEOUT_S,
            "every media client receiving every other's video",
        )
    setup_s = time.monotonic() - setup_started
    # Everyone starts together; the loop keeps running (and media flowing) meanwhile.
    await asyncio.get_running_loop().run_in_executor(None, start.wait)
    packets_before = [m.packets_received() for m, _ in media_clients]
    stop_at = time.monotonic() + load.duration_s

    async def keep_acting(client: Client, client_rng: random.Random) -> None:
        # Start at random offsets so that the commands do not come in waves.
        await asyncio.sleep(client_rng.uniform(0, load.interval_s))
        while time.monotonic() < stop_at:
            await client.act(client_rng, lambda: next(chats))
            await asyncio.sleep(client_rng.uniform(0.5, 1.5) * load.interval_s)

    async def watch_loop() -> None:
        while time.monotonic() < stop_at:
            asked = time.monotonic()
            await asyncio.sleep(0.5)
            measures.load_loop_lag_ms.append((time.monotonic() - asked - 0.5) * 1000)

    measures.recording = True
    wall_before, load_before = time.monotonic(), os.times()
    await asyncio.gather(
        watch_loop(), *(keep_acting(c, random.Random(rng.getrandbits(32))) for c in everyone)
    )
    load_times = os.times()
    wall = time.monotonic() - wall_before
    load_cpu = (load_times.user - load_before.user) + (load_times.system - load_before.system)
    # Acceptances of the last requests to unmute are still on their way.
    await until(lambda: not any(c.tasks for c in everyone), SETTLE_TIMEOUT_S, "the last answers")
    packets_after = [m.packets_received() for m, _ in media_clients]
    measures.recording = False

    # The barrier: one last message per room, received by all means everything before it was.
    for clients in rooms.values():
        await clients[0]._chat_once(lambda: next(chats))
    with contextlib.suppress(TimeoutError):  # what never arrives is counted just below
        await until(lambda: not measures.pending, SETTLE_TIMEOUT_S, "every broadcast to arrive")
    lost_events = sum(len(p.waiting_for) for p in measures.pending.values())
    views = {c: c.view.projection() for c in everyone}

    lost_state = 0
    for clients in rooms.values():
        clients[0].closing = True  # its seat is taken over: that disconnect is expected
        fresh = await connected_client(url)
        reply = await fresh.call("join", {"token": clients[0].token}, timeout=30)
        if not reply["ok"]:
            measures.errors[f"fresh snapshot: {reply['error']['code']}"] += 1
            lost_state += len(clients)
        else:
            truth = RoomView()
            truth.load(reply["snapshot"])
            lost_state += sum(views[c] != truth.projection() for c in clients)
        await fresh.disconnect()

    pairs = list(zip(packets_before, packets_after, strict=True))
    media_stalled = sum(after <= before for before, after in pairs)
    media_failures = sum(len(m.failures) + len(m.link.refusals) for m, _ in media_clients)
    if media_stalled:
        measures.errors["media stopped arriving"] += media_stalled
    if media_failures:
        measures.errors["media negotiation failed"] += media_failures
    await asyncio.gather(*(c.close() for c in everyone))
    return {
        "clients": len(everyone),
        "media_clients": len(media_clients),
        "setup_s": setup_s,
        "wall_s": wall,
        "load_cpu_s": load_cpu,
        "acks_ms": measures.acks_ms,
        "fanout_ms": measures.fanout_ms,
        "load_loop_lag_ms": measures.load_loop_lag_ms,
        "errors": dict(measures.errors),
        "lost_events": lost_events,
        "lost_state": lost_state,
        "media_packets_received": sum(after - before for before, after in pairs),
    }


def _group_process(url: str, group: Group, load: Load, start: Barrier, results: Connection) -> None:
    try:
        results.send(asyncio.run(_drive(url, group, load, start)))
    except BaseException as error:
        start.abort()  # the others must not wait for a group that will never start
        results.send({"failed": f"{group.rooms[0]}...: {error!r}"})
        raise


async def _watch_server(url: str, server_pid: int, load: Load, start: Barrier) -> dict[str, Any]:
    """In the parent, during the run: the server's CPU and event-loop lag."""
    await asyncio.get_running_loop().run_in_executor(None, start.wait)
    lags: list[float] = []
    cpu_before, wall_before = _cpu_seconds(server_pid), time.monotonic()
    stop_at = wall_before + load.duration_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < stop_at:
            await asyncio.sleep(1.0)
            async with session.get(f"{url}/metrics") as response:
                lag = _gauge(await response.text(), "groupsession_event_loop_lag_seconds")
            if lag is not None:
                lags.append(lag * 1000)
    cpu = _cpu_seconds(server_pid) - cpu_before
    return {
        "server_cpu_cores": round(cpu / (time.monotonic() - wall_before), 3),
        "server_rss_kib": _rss_kib(server_pid),
        "server_loop_lag_ms": _percentiles(lags),
    }


def _figures(load: Load, server: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    acks: dict[str, list[float]] = {}
    fanout: dict[str, list[float]] = {}
    errors: Counter[str] = Counter()
    for part in parts:
        for name, samples in part["acks_ms"].items():
            acks.setdefault(name, []).extend(samples)
        for kind, samples in part["fanout_ms"].items():
            fanout.setdefault(kind, []).extend(samples)
        errors.update(part["errors"])
    ack = _percentiles([ms for samples in acks.values() for ms in samples])
    mute = _percentiles(fanout.get("mute", []))
    wall = max(part["wall_s"] for part in parts)
    return {
        "rooms": load.rooms,
        "clients_per_room": load.clients,
        "clients": sum(part["clients"] for part in parts),
        "media_rooms": load.media_rooms,
        "media_clients": sum(part["media_clients"] for part in parts),
        "duration_s": load.duration_s,
        "interval_s": load.interval_s,
        "setup_s": round(max(part["setup_s"] for part in parts), 1),
        "commands": ack["count"],
        "commands_per_s": round(ack["count"] / wall, 1),
        "command_ack_ms": ack,
        "command_ack_ms_by_room_kind": {
            "media_rooms" if part["media_clients"] else "signaling_rooms": _percentiles(
                [ms for samples in part["acks_ms"].values() for ms in samples]
            )
            for part in parts
        },
        "command_ack_ms_by_command": {
            name: _percentiles(samples) for name, samples in sorted(acks.items())
        },
        "fanout_ms": {"mute": mute, "chat": _percentiles(fanout.get("chat", []))},
        "fanout_measured_to": "the last of the room's other clients",
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "lost_events": sum(part["lost_events"] for part in parts),
        "lost_state": sum(part["lost_state"] for part in parts),
        "media_packets_received": sum(part["media_packets_received"] for part in parts),
        **server,
        "load_processes": len(parts),
        "load_cpu_cores": round(sum(part["load_cpu_s"] for part in parts) / wall, 3),
        "load_loop_lag_ms": _percentiles([ms for part in parts for ms in part["load_loop_lag_ms"]]),
        "goal": {
            "p99_ms": GOAL_P99_MS,
            "command_ack_met": ack["p99"] is not None and ack["p99"] <= GOAL_P99_MS,
            "fanout_met": mute["p99"] is not None and mute["p99"] <= GOAL_P99_MS,
        },
    }


def run_here(load: Load) -> dict[str, Any]:
    """The run itself, in this process's network namespace."""
    names = [f"load-{r}" for r in range(load.rooms)]
    groups = [
        group
        for group in (
            Group(tuple(names[: load.media_rooms]), media=True),
            Group(tuple(names[load.media_rooms :]), media=False),
        )
        if group.rooms
    ]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(groups) + 1, timeout=SETUP_TIMEOUT_S)
    # One address makes every join here: the per-address limit would refuse them.
    with serving({"GROUPSESSION_JOINS_PER_MINUTE": "0"}) as (url, server):
        pipes = [context.Pipe(duplex=False) for _ in groups]
        processes = [
            context.Process(target=_group_process, args=(url, group, load, start, sending))
            for group, (_, sending) in zip(groups, pipes, strict=True)
        ]
        for process in processes:
            process.start()
        try:
            watched = asyncio.run(_watch_server(url, server.pid, load, start))
        except threading.BrokenBarrierError:
            watched = {}
        parts = [receiving.recv() for receiving, _ in pipes]
        for process in processes:
            process.join(timeout=30)
    failed = [part["failed"] for part in parts if "failed" in part]
    if failed:
        raise RuntimeError(f"benchmark: a load process failed: {failed}")
    return _figures(load, watched, parts)


def parser() -> argparse.ArgumentParser:
    arguments = argparse.ArgumentParser(
        prog="python -m benchmarks.signaling_load",
        description="Many rooms against one server; prints one JSON object as its last line.",
    )
    arguments.add_argument(
        "--rooms", type=bounded(int, *ROOMS_RANGE), default=20, help="rooms, 1-40 (default 20)"
    )
    arguments.add_argument(
        "--clients",
        type=bounded(int, *CLIENTS_RANGE),
        default=8,
        help="clients per room, a facilitator and members, 2-16 (default 8)",
    )
    arguments.add_argument(
        "--media-rooms",
        type=bounded(int, 0, ROOMS_RANGE[1]),
        default=2,
        help="rooms whose clients also send and receive media, at most --rooms (default 2)",
    )
    arguments.add_argument(
        "--duration",
        type=bounded(float, *DURATION_RANGE_S),
        default=60.0,
        help="seconds of load, 1-600 (default 60)",
    )
    arguments.add_argument(
        "--interval",
        type=bounded(float, *INTERVAL_RANGE_S),
        default=2.0,
        help="mean seconds between one client's commands, 0.2-30 (default 2)",
    )
    arguments.add_argument("--seed", type=int, default=1, help="the command mix's random seed")
    arguments.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser()
    args = arguments.parse_args(argv)
    if args.media_rooms > args.rooms:
        arguments.error(f"--media-rooms: {args.media_rooms} is more than --rooms ({args.rooms})")
    load = Load(
        int(args.rooms),
        int(args.clients),
        int(args.media_rooms),
        float(args.duration),
        float(args.interval),
        int(args.seed),
    )
    if load.media_rooms and not args.here:
        # Media needs real interfaces: run again inside a namespace of our own.
        passed = sys.argv[1:] if argv is None else list(argv)
        with network_namespace() as namespace:
            figures = namespace.run_module(
                "benchmarks.signaling_load",
                *passed,
                "--here",
                timeout_s=load.duration_s + 600,
            )
    else:
        figures = run_here(load)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
