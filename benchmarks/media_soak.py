"""Soak benchmark with media: many join/leave and drop/return cycles, each with real
peers, against one server process; what the process holds before and after.

``--residents`` participants (a facilitator and members) stay in the room the
whole time, publishing the pre-encoded clip and subscribed to everyone. Each
join/leave cycle is a new connection that joins with a new link, publishes and
subscribes with real aiortc peers (benchmarks.load), waits until media flows both
ways (it receives every resident's video and every resident receives its video),
then leaves. Each drop/return cycle is one member who does the same, then loses
the network (the transport closes without a goodbye; the room keeps their place)
and comes back with the same link on the next cycle. Everything runs inside a
network namespace the benchmark makes (aioice skips loopback).

Figures of the server process, before the cycles (after one warm-up cycle) and
after them (once the room is back to its residents, after a garbage collection,
and again after ``--settle`` idle seconds): resident memory, open descriptors, UDP
sockets (from /proc), and the media plane's figures from ``/metrics`` (consumers,
i.e. forwarding legs; participants; rooms). ``--tracemalloc`` runs the server
under tracemalloc and adds the allocation sites that grew most.

    .venv/bin/python -m benchmarks.media_soak --joins 1000 --drops 200

Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from benchmarks.load import Clip, encode_clip, until
from benchmarks.measures import bounded
from benchmarks.netns import network_namespace
from benchmarks.signaling_server import connected_client, join_token, serving
from benchmarks.socket_media import SocketMediaClient
from rooms import Role

JOINS_RANGE = (1, 5000)
DROPS_RANGE = (0, 1000)
RESIDENTS_RANGE = (1, 8)
SETTLE_RANGE_S = (0.0, 120.0)
MAX_MINUTES_RANGE = (1.0, 600.0)
MEDIA_FLOWING_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 30.0
SNAPSHOT_TIMEOUT_S = 120.0
STARTUP_TIMEOUT_S = 180.0
TRACEMALLOC_FRAMES = 12
TOP_GROWTH = 15


class Participant:
    """A connection with media: joined, publishing and subscribed."""

    def __init__(self, sio: socketio.AsyncClient, media: SocketMediaClient) -> None:
        self.sio = sio
        self.media = media
        self.participant_id = media.load.participant_id

    @classmethod
    async def enter(cls, url: str, token: str, clip: Clip) -> Participant:
        sio = await connected_client(url)
        reply = await sio.call("join", {"token": token, "microphone": True, "camera": True})
        if not reply["ok"] or reply["snapshot"]["you"]["state"] != "admitted":
            await sio.disconnect()
            raise RuntimeError(f"join refused: {reply.get('error')}")
        media = SocketMediaClient(sio, reply["snapshot"]["you"]["participant_id"], clip)
        await media.start()
        return cls(sio, media)

    async def leave(self) -> bool:
        ok = bool((await self.sio.call("leave", {}, timeout=30))["ok"])
        await self.media.close()
        await self.sio.disconnect()
        return ok

    async def drop(self) -> None:
        """The network goes: the transport closes without a goodbye."""
        gone = asyncio.Event()
        self.sio.on("disconnect", gone.set)
        await self.sio.eio.ws.close()
        await asyncio.wait_for(gone.wait(), 10)
        await self.media.close()


def _flowing_both_ways(newcomer: Participant, residents: list[Participant]) -> Callable[[], bool]:
    def flowing() -> bool:
        return all(
            newcomer.media.receives_from(r.participant_id)
            and r.media.receives_from(newcomer.participant_id)
            for r in residents
        )

    return flowing


def _progress(done: int, total: int, kind: str, pid: int) -> None:
    """A line on stderr every 100 cycles: a long soak shows it is moving, and how RSS goes."""
    if done % 100 == 0 or done == total:
        rss = _process_figures(pid)["rss_kib"]
        print(f"media_soak: {done}/{total} {kind} cycles, server RSS {rss} KiB", file=sys.stderr)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _missing(newcomer: Participant, residents: list[Participant]) -> str:
    """Which way media did not flow, for the log of a cycle that timed out."""
    missing = [
        f"{r.participant_id} to newcomer"
        for r in residents
        if not newcomer.media.receives_from(r.participant_id)
    ] + [
        f"newcomer to {r.participant_id}"
        for r in residents
        if not r.media.receives_from(newcomer.participant_id)
    ]
    return "media did not flow: " + ", ".join(missing)


def _udp_inodes(pid: int) -> set[str]:
    inodes = set()
    for table in ("udp", "udp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                inodes.add(line.split()[9])
    return inodes


def _process_figures(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed while we looked
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    sockets = [t[len("socket:[") : -1] for t in targets if t.startswith("socket:[")]
    udp = _udp_inodes(pid)
    return {
        "rss_kib": rss_kib,
        "open_fds": len(targets),
        "sockets": len(sockets),
        "udp_sockets": sum(inode in udp for inode in sockets),
    }


async def _plane_figures(url: str) -> dict[str, float]:
    """The media plane's and the rooms' figures, from the server's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        text = await response.text()
    figures: dict[str, float] = {"consumers": 0, "participants": 0, "rooms": 0}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == "groupsession_consumers":
            figures["consumers"] = float(value)
        elif name == "groupsession_rooms":
            figures["rooms"] = float(value)
        elif name.startswith("groupsession_participants{"):
            figures["participants"] += float(value)
    return figures


class _Server:
    """What the benchmark asks of the server process: its figures, a collection, a snapshot."""

    def __init__(self, url: str, pid: int, snapshots: Path) -> None:
        self.url = url
        self.pid = pid
        self._snapshots = snapshots
        self._asked = 0

    async def collect(self) -> Path | None:
        """Make it collect its garbage; its tracemalloc snapshot, if it traces."""
        self._asked += 1
        os.kill(self.pid, signal.SIGUSR1)
        done = self._snapshots / f"{self._asked}.done"
        await until(done.exists, SNAPSHOT_TIMEOUT_S, "the server's collection", 0.1)
        snapshot = self._snapshots / f"{self._asked}.tracemalloc"
        return snapshot if snapshot.exists() else None

    async def figures(self) -> dict[str, Any]:
        return {**_process_figures(self.pid), "plane": await _plane_figures(self.url)}


def _top_growth(before: Path, after: Path) -> list[dict[str, Any]]:
    old = tracemalloc.Snapshot.load(str(before))
    new = tracemalloc.Snapshot.load(str(after))
    ignored = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old, new = old.filter_traces(ignored), new.filter_traces(ignored)
    stats = new.compare_to(old, "traceback")[:TOP_GROWTH]
    return [
        {
            "size_diff_kib": round(s.size_diff / 1024, 1),
            "count_diff": s.count_diff,
            "where": [
                f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}" for f in s.traceback
            ][-6:],
        }
        for s in stats
    ]


async def _soak(
    server: _Server,
    joins: int,
    drops: int,
    residents_n: int,
    settle_s: float,
    max_s: float,
    clip: Clip,
) -> dict[str, Any]:
    url = server.url
    errors: dict[str, int] = {}
    # Under tracemalloc the server takes a while to start: wait for it, bounded.
    await until(lambda: _answers(url), STARTUP_TIMEOUT_S, "the server to start", 0.5)

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    facilitator = await Participant.enter(
        url, join_token(url, Role.FACILITATOR, "Fac", "soak"), clip
    )
    assert (await facilitator.sio.call("update_settings", {"auto_admit": True}))["ok"]
    residents = [facilitator]
    for r in range(1, residents_n):
        residents.append(
            await Participant.enter(url, join_token(url, Role.MEMBER, f"R{r}", "soak"), clip)
        )
    await until(
        lambda: all(
            a.media.receives_from(b.participant_id)
            for a in residents
            for b in residents
            if a is not b
        ),
        MEDIA_FLOWING_TIMEOUT_S,
        "the residents' media",
    )

    async def cycle(token: str, then: str) -> float:
        started = time.monotonic()
        try:
            newcomer = await Participant.enter(url, token, clip)
        except Exception as failure:
            error(f"enter: {failure!r}"[:120])
            return 0.0
        try:
            await until(
                _flowing_both_ways(newcomer, residents), MEDIA_FLOWING_TIMEOUT_S, "media both ways"
            )
        except TimeoutError:
            error("media did not flow both ways")
            print(f"media_soak: {_missing(newcomer, residents)}", file=sys.stderr)
        flowing_s = time.monotonic() - started
        if newcomer.media.failures or newcomer.media.link.refusals:
            error("newcomer's media refused or failed")
        try:
            if then == "leave":
                if not await newcomer.leave():
                    error("leave refused")
            else:
                await newcomer.drop()
        except Exception as failure:  # its connection went (a starved machine): counted
            error(f"{then}: {type(failure).__name__}")
            with contextlib.suppress(Exception):
                await newcomer.media.close()
                await newcomer.sio.disconnect()
        return flowing_s

    # One warm-up cycle: what the first media session allocates once is not growth.
    await cycle(join_token(url, Role.MEMBER, "Warm-up", "soak"), "leave")
    await _back_to_residents(server, residents_n)
    await server.collect()
    before_snapshot = None
    before = await server.figures()
    if os.environ.get("PYTHONTRACEMALLOC"):
        before_snapshot = await server.collect()

    flowing: list[float] = []
    started = time.monotonic()
    # The time limit is shared in proportion: the drop/return cycles get theirs too.
    joins_until = started + max_s * joins / (joins + drops)
    joins_done = drops_done = 0
    while joins_done < joins and time.monotonic() < joins_until:
        token = join_token(url, Role.MEMBER, f"M{joins_done}", "soak")
        flowing.append(await cycle(token, "leave"))
        joins_done += 1
        _progress(joins_done, joins, "join/leave", server.pid)
    join_s = time.monotonic() - started
    returning = join_token(url, Role.MEMBER, "Returning", "soak")
    drops_until = started + max_s
    started = time.monotonic()
    while drops_done < drops and time.monotonic() < drops_until:
        flowing.append(await cycle(returning, "drop"))
        drops_done += 1
        _progress(drops_done, drops, "drop/return", server.pid)
    drop_s = time.monotonic() - started
    if drops_done:
        # The returning member comes back one last time and leaves for good.
        last = await Participant.enter(url, returning, clip)
        if not await last.leave():
            error("leave refused")
    # A resident's media that failed (under load, say) was recovered as a browser
    # would: counted apart from the errors, which are what did not work.
    resident_failures = [f for r in residents for f in r.media.failures]
    resident_recoveries = sum(r.media.recoveries for r in residents)
    unrecovered = [f for f in resident_failures if f.startswith("recovery:")]
    if unrecovered:
        errors["residents' media could not recover"] = len(unrecovered)
    # An answer later than the server's 10 s is refused (media_not_ready) and the
    # newer offer answered: slow, not wrong. Any other refusal is an error.
    refused = [code for r in residents for code in r.media.link.refusals]
    late_answers = refused.count("media_not_ready")
    if len(refused) > late_answers:
        errors["residents' media requests refused"] = len(refused) - late_answers

    await _back_to_residents(server, residents_n)
    await server.collect()
    after = await server.figures()
    await asyncio.sleep(settle_s)  # idle on purpose: what the server lets go of by itself
    after_snapshot = await server.collect()
    settled = await server.figures()
    for participant in residents:
        await participant.leave()

    ordered = sorted(f for f in flowing if f)
    figures: dict[str, Any] = {
        "join_leave_cycles_done": joins_done,
        "drop_return_cycles_done": drops_done,
        "stopped_by_time_limit": (joins_done, drops_done) != (joins, drops),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "resident_media_failures": len(resident_failures),
        "resident_media_recoveries": resident_recoveries,
        "resident_late_answers": late_answers,
        "join_leave_s": round(join_s, 1),
        "drop_return_s": round(drop_s, 1),
        "media_both_ways_s": {
            "p50": round(ordered[len(ordered) // 2], 3) if ordered else None,
            "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3)
            if ordered
            else None,
        },
        "server_before": before,
        "server_after": after,
        "server_after_settle": settled,
        "rss_growth_kib": settled["rss_kib"] - before["rss_kib"],
        "fd_growth": settled["open_fds"] - before["open_fds"],
        "udp_socket_growth": settled["udp_sockets"] - before["udp_sockets"],
    }
    if before_snapshot is not None and after_snapshot is not None:
        figures["tracemalloc_top_growth"] = _top_growth(before_snapshot, after_snapshot)
    return figures


async def _back_to_residents(server: _Server, residents: int) -> None:
    """Until the server holds the residents' room and media only (the last one's goodbye done)."""
    consumers = residents * (residents - 1) * 2  # audio and video to everyone else

    async def figures() -> dict[str, float]:
        return await _plane_figures(server.url)

    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        plane = await figures()
        if plane["consumers"] == consumers and plane["participants"] == residents:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: the server still holds {plane} after the cycles")
        await asyncio.sleep(0.2)


def run_here(
    joins: int, drops: int, residents: int, settle_s: float, max_s: float, trace: bool
) -> dict[str, Any]:
    clip = encode_clip()
    with tempfile.TemporaryDirectory() as snapshots:
        settings = {
            # One address makes every join here: the per-address limit would refuse them.
            "GROUPSESSION_JOINS_PER_MINUTE": "0",
            "GROUPSESSION_BENCH_SNAPSHOTS": snapshots,
        }
        if trace:
            settings["PYTHONTRACEMALLOC"] = str(TRACEMALLOC_FRAMES)
        with serving(settings, module="benchmarks.traced_server") as (url, process):
            server = _Server(url, process.pid, Path(snapshots))
            return {
                "join_leave_cycles": joins,
                "drop_return_cycles": drops,
                "residents": residents,
                "settle_s": settle_s,
                "tracemalloc": trace,
                "max_minutes": max_s / 60,
                **asyncio.run(_soak(server, joins, drops, residents, settle_s, max_s, clip)),
            }


def parser() -> argparse.ArgumentParser:
    arguments = argparse.ArgumentParser(
        prog="python -m benchmarks.media_soak",
        description="Join/leave and drop/return cycles with media; prints one JSON object.",
    )
    arguments.add_argument(
        "--joins",
        type=bounded(int, *JOINS_RANGE),
        default=1000,
        help="join/leave cycles, 1-5000 (default 1000)",
    )
    arguments.add_argument(
        "--drops",
        type=bounded(int, *DROPS_RANGE),
        default=200,
        help="drop/return cycles, 0-1000 (default 200)",
    )
    arguments.add_argument(
        "--residents",
        type=bounded(int, *RESIDENTS_RANGE),
        default=3,
        help="participants with media throughout, the facilitator among them, 1-8 (default 3)",
    )
    arguments.add_argument(
        "--settle",
        type=bounded(float, *SETTLE_RANGE_S),
        default=10.0,
        help="idle seconds before the last figures, 0-120 (default 10)",
    )
    arguments.add_argument(
        "--max-minutes",
        type=bounded(float, *MAX_MINUTES_RANGE),
        default=90.0,
        help="stop cycling after this long, whatever is done (reported), 1-600 (default 90)",
    )
    arguments.add_argument(
        "--tracemalloc", action="store_true", help="trace the server's allocations (slower)"
    )
    arguments.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    joins, drops, residents = int(args.joins), int(args.drops), int(args.residents)
    if args.here:
        figures = run_here(
            joins,
            drops,
            residents,
            float(args.settle),
            float(args.max_minutes) * 60,
            bool(args.tracemalloc),
        )
    else:
        # Media needs real interfaces: run again inside a namespace of our own.
        passed = sys.argv[1:] if argv is None else list(argv)
        # The cycles' limit, then setting up and settling: bounded all the same.
        timeout_s = 900 + float(args.max_minutes) * 60 + float(args.settle)
        with network_namespace() as namespace:
            figures = namespace.run_module(
                "benchmarks.media_soak", *passed, "--here", timeout_s=timeout_s
            )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
