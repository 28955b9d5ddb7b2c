"""Scenario: two honest participants and a hostile one; each family of abuse in turn.

Run inside a network namespace (tests/netns.py) by tests/server/sfu/
test_hostile.py: ``python -m tests.server.sfu.scenarios.hostile_participant SEED``.
Prints one JSON line: per family, what was sent, the drops it caused, the
server's CPU per crafted packet, the honest flows' rates against their
rate just before it, the hostile participant's SSRC-keyed state and new tracebacks;
then how long removing her took.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from server.sfu import aiortc_internals as internals
from server.sfu.ingress import DropReason
from server.sfu.plane import RtpForwardingMediaPlane
from signaling.media import TrackKind
from tests.server.sfu import hostile
from tests.server.sfu.hostile import Hostile, LogWatch, PlaneProxy, ServerThread, ThreadSignals
from tests.server.sfu.peers import ROOM, ClientPeer, RelaySignals, eventually, sees_and_hears

CONNECT_TIMEOUT_S = 40.0
# Each flow's rate is measured over this long before and after a family.
RATE_WINDOW_S = 2.0
# Crafted packets per family (flood: its own, beyond the budget).
BATCH = 2000
MALFORMED = 4000
# Sent in chunks with a pause between: the server shares this process (and
# its GIL), and a socket's receive buffer holds only a few hundred datagrams.
CHUNK = 200
CHUNK_PAUSE_S = 0.002
# The flood goes on, in chunks faster than the budget allows, until the
# server has refused some of it; never more than this.
FLOOD_MAX = 40_000
FLOOD_CHUNK = 100

HONEST = ("p-0", "p-1")
HOSTILE = "p-2"


Send = Callable[[], Awaitable[int]]


def _paced(send_chunk: Callable[[int], int], total: int = BATCH) -> Send:
    """Send ``total`` packets in chunks, yielding between them."""

    async def send() -> int:
        sent = 0
        while sent < total:
            sent += send_chunk(min(CHUNK, total - sent))
            await asyncio.sleep(CHUNK_PAUSE_S)
        return sent

    return send


def _flood(send_chunk: Callable[[int], int], refused: Callable[[], Awaitable[bool]]) -> Send:
    """Chunks of ``FLOOD_CHUNK`` every ``CHUNK_PAUSE_S`` (well over 3,000 a second) until
    the server refuses some, up to ``FLOOD_MAX``."""

    async def send() -> int:
        sent = 0
        while sent < FLOOD_MAX:
            sent += send_chunk(FLOOD_CHUNK)
            await asyncio.sleep(CHUNK_PAUSE_S)
            if sent % 2000 == 0 and await refused():
                break
        return sent

    return send


async def _packets(clients: dict[str, ClientPeer]) -> dict[str, int]:
    """Packets each subscriber has received from each publisher, per kind, so far."""
    counts: dict[str, int] = {}
    for subscriber, client in clients.items():
        for publisher in clients:
            if publisher == subscriber:
                continue
            for kind in (TrackKind.AUDIO, TrackKind.VIDEO):
                key = f"{publisher}>{subscriber}:{kind.value}"
                counts[key] = await client.packets_received(publisher, kind)
    return counts


async def _rates(clients: dict[str, ClientPeer], window_s: float) -> dict[str, float]:
    before = await _packets(clients)
    start = time.monotonic()
    await asyncio.sleep(window_s)  # a measurement window, not a wait for a condition
    after = await _packets(clients)
    elapsed = time.monotonic() - start
    return {key: (after[key] - before[key]) / elapsed for key in before}


async def main(seed: int) -> dict[str, Any]:
    watch = LogWatch()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().addHandler(watch)
    rng = random.Random(seed)
    server = ServerThread()
    relay = RelaySignals()
    plane = RtpForwardingMediaPlane()
    plane.attach(ThreadSignals(asyncio.get_running_loop(), relay))
    proxy = PlaneProxy(server, plane)
    clients: dict[str, ClientPeer] = {}
    result: dict[str, Any] = {"seed": seed, "families": {}}
    try:
        for index, participant_id in enumerate((*HONEST, HOSTILE)):
            client = ClientPeer(ROOM, participant_id, index, proxy)
            relay.clients[participant_id] = client
            clients[participant_id] = client
            await client.publish()
            await server.run(lambda pid=participant_id: plane.subscribe(ROOM, pid))  # type: ignore[misc]
        everyone = list(clients.values())
        result["connected"] = False
        await eventually(
            lambda: all(sees_and_hears(c, [o for o in everyone if o is not c]) for c in everyone),
            CONNECT_TIMEOUT_S,
            "everyone seeing and hearing everyone",
        )
        result["connected"] = True
        her = hostile.make_hostile(clients[HOSTILE])

        async def highest_video_seq() -> int:
            def read() -> int:
                for track in plane.published_tracks(ROOM, HOSTILE):
                    if track.kind is TrackKind.VIDEO:
                        guard = internals.guard_of(track.receiver)
                        if guard is not None:
                            seq = guard.highest_sequence(her.video_ssrc)
                            if seq is not None:
                                return seq
                raise LookupError("her video stream has no sequence yet")

            return await server.call(read)

        highest = await highest_video_seq()

        async def over_budget_seen() -> bool:
            return await server.call(lambda: plane.stats.drops.counts[DropReason.OVER_BUDGET] > 0)

        families: list[tuple[str, Send]] = [
            (
                "far_ahead",
                _paced(lambda n: hostile.far_ahead_sequence_numbers(her, rng, highest, n)),
            ),
            (
                "rtx_far_ahead",
                _paced(lambda n: hostile.rtx_far_ahead_original(her, rng, highest, n)),
            ),
            ("many_ssrcs", _paced(lambda n: hostile.many_new_ssrcs(her, rng, n))),
            (
                "header_extensions",
                _paced(lambda n: hostile.wrong_size_header_extensions(her, rng, n)),
            ),
            ("flood", _flood(lambda n: hostile.flood(her, rng, n), over_budget_seen)),
        ]
        ports = await server.call(lambda: hostile.server_media_ports(plane))
        source_host = clients[HONEST[0]].publish_pc.getTransceivers()[0].sender.transport
        local_host = source_host.transport._connection._nominated[1].local_candidate.host
        families.append(
            (
                "malformed_datagrams",
                _paced(
                    lambda n: hostile.malformed_datagrams(ports, rng, n, local_host),
                    total=MALFORMED,
                ),
            )
        )
        for name, send in families:
            result["families"][name] = await _run_family(
                name, send, server, plane, clients, watch, her
            )
        problems = [(pid, problem.value) for pid, problem in relay.problems]
        result["connection_problems"] = problems
        start = time.monotonic()
        await server.run(lambda: plane.remove_participant(ROOM, HOSTILE))
        result["remove_s"] = time.monotonic() - start
        result["examples"] = watch.examples
    finally:
        for client in clients.values():
            await client.close()
        await server.run(plane.close)
        server.stop()
    return result


async def _follow_rtx_line(
    server: ServerThread, plane: RtpForwardingMediaPlane, her: Hostile
) -> None:
    """Crafted RTX goes on from the server's view of her RTX stream.

    Her client sends real retransmissions on the same SSRC when the server
    NACKs, so her crafted RTX numbering must follow the stream the server
    has seen, or it is rightly dropped as a jump before the packet under
    test is even parsed.
    """

    def read() -> int | None:
        for track in plane.published_tracks(ROOM, HOSTILE):
            guard = internals.guard_of(track.receiver)
            if guard is not None:
                return guard.highest_sequence(her.video_rtx_ssrc)
        return None

    highest = await server.call(read)
    if highest is not None:
        her.rtx_sequence = (highest + 100) & 0xFFFF


async def _run_family(
    name: str,
    send: Send,
    server: ServerThread,
    plane: RtpForwardingMediaPlane,
    clients: dict[str, ClientPeer],
    watch: LogWatch,
    her: Hostile,
) -> dict[str, Any]:
    drops_before = await server.call(lambda: dict(plane.stats.drops.counts))
    tracebacks_before = watch.tracebacks
    # The server's CPU for honest media alone, then with the family on top.
    # Measured right before each family, not once at the start: the machine's
    # load (other test runs share its cores) changes over a run.
    quiet_start, quiet_cpu = time.monotonic(), await server.cpu_seconds()
    baseline = await _rates(clients, RATE_WINDOW_S)
    quiet_rate = (await server.cpu_seconds() - quiet_cpu) / (time.monotonic() - quiet_start)
    if name.startswith(("rtx", "header")):
        await _follow_rtx_line(server, plane, her)
    start, cpu = time.monotonic(), await server.cpu_seconds()
    sent = await send()
    # Let the server take everything in: its drop counters stop moving.
    settled: list[int] = []

    async def total() -> int:
        return await server.call(plane.stats.drops.total)

    for _ in range(50):
        settled.append(await total())
        if len(settled) > 3 and settled[-1] == settled[-4]:
            break
        await asyncio.sleep(0.1)
    cpu_used = await server.cpu_seconds() - cpu
    elapsed = time.monotonic() - start
    rates = await _rates(clients, RATE_WINDOW_S)
    drops_after = await server.call(lambda: dict(plane.stats.drops.counts))
    quality = await server.call(lambda: plane.connection_quality(ROOM, HOSTILE))
    return {
        "sent": sent,
        "drops": {
            reason.value: drops_after[reason] - drops_before[reason]
            for reason in drops_after
            if drops_after[reason] != drops_before[reason]
        },
        "cpu_per_packet_s": max(cpu_used - quiet_rate * elapsed, 0.0) / max(sent, 1),
        "rate_ratios": {
            key: (rates[key] / baseline[key]) if baseline[key] else 1.0 for key in baseline
        },
        "hostile_ssrc_state": await server.call(lambda: hostile.ssrc_state(plane, HOSTILE)),
        "new_tracebacks": watch.tracebacks - tracebacks_before,
        "budget_exceeded": bool(quality and quality.media_budget_exceeded),
    }


if __name__ == "__main__":
    outcome = asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
    print(json.dumps(outcome))
