"""Memory over join/leave cycles: prints one JSON line.

One participant stays; another joins (publishes, subscribes, is forwarded to
the stayer, who renegotiates) and leaves, ``--cycles`` times. The server
and the client peers share this process, so flat RSS means neither leaks.
Run from the repository root with ``PYTHONPATH=.`` (it reuses the test peers).
Each cycle waits until the stayer's subscription includes the joiner's
tracks, then removes the joiner.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import time

from aiortc import RTCPeerConnection

from server.media import RtpForwardingMediaPlane
from tests.server.media.peers import ClientPeer, RelaySignals, eventually

ROOM = "memory"


def open_fds() -> int:
    """Descriptors open in this process: sockets (forwarding routes hold duplicates) included."""
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 1e6


async def run(cycles: int) -> dict[str, object]:
    plane = RtpForwardingMediaPlane()
    signals = RelaySignals()
    plane.attach(signals)
    stayer = ClientPeer(ROOM, "p-0", 0, plane)
    signals.clients[stayer.participant_id] = stayer
    await stayer.publish()
    await plane.subscribe(ROOM, stayer.participant_id)
    samples: dict[int, float] = {}
    fds: dict[int, int] = {}
    started = time.monotonic()
    for cycle in range(1, cycles + 1):
        joiner = ClientPeer(ROOM, "p-1", 1, plane)
        signals.clients[joiner.participant_id] = joiner
        await joiner.publish()
        await plane.subscribe(ROOM, joiner.participant_id)
        await eventually(
            lambda: (
                stayer.subscribe_pc.signalingState == "stable"
                and any(t.participant_id == "p-1" for t in stayer.tracks_by_mid.values())
            ),
            10,
            "the stayer subscribed to the joiner",
        )
        await plane.remove_participant(ROOM, joiner.participant_id)
        del signals.clients[joiner.participant_id]
        await joiner.close()
        if cycle % 100 == 0 or cycle == 10:
            gc.collect()
            samples[cycle] = round(rss_mb(), 1)
            fds[cycle] = open_fds()
    del joiner  # the last cycle's client: closed, but this frame still held it
    expected = {id(stayer.publish_pc), id(stayer.subscribe_pc)}
    expected |= {id(pc) for pc in plane.peer_connections()}  # the server's two for the stayer

    def live_peer_connections() -> list[RTCPeerConnection]:
        gc.collect()
        return [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection)]

    live_at_end = len(live_peer_connections())
    # A connection closed while ICE was still checking stays referenced by
    # aiortc's own __connect task until aioice gives up on the checks; those
    # are transient, not leaks, so wait for them to end.
    try:
        settled_after_s: float | None = round(
            await eventually(
                lambda: len(live_peer_connections()) <= len(expected),
                60,
                "closed connections released",
                interval=0.5,
            ),
            1,
        )
    except AssertionError:
        settled_after_s = None
    live_after_settling = len(live_peer_connections())
    result: dict[str, object] = {
        "cycles": cycles,
        "seconds": round(time.monotonic() - started, 1),
        "rss_mb_by_cycle": samples,
        "rss_growth_mb_after_first_100": round(
            samples[max(samples)] - samples[min(c for c in samples if c >= 100)], 1
        )
        if cycles >= 200
        else None,
        "open_fds_by_cycle": fds,
        "live_peer_connections_at_end": live_at_end,
        # The stayer's two client connections and the server's two for it.
        "expected_peer_connections": len(expected),
        "live_peer_connections_after_settling": live_after_settling,
        "settled_after_s": settled_after_s,
        "stayer_transceivers": len(stayer.subscribe_pc.getTransceivers()),
    }
    await stayer.close()
    await plane.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.cycles))))


if __name__ == "__main__":
    main()
