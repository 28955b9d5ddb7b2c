"""Memory over join/leave cycles: prints one JSON line.

One participant stays; another joins (publishes, subscribes, is forwarded to
the stayer, who renegotiates) and leaves, ``--cycles`` times. The server
and the client peers share this process, so flat RSS means neither leaks.
The participants are the benchmarks' load clients (benchmarks/load.py),
joined to the media plane in this process. Run from the repository root:
``.venv/bin/python -m benchmarks.join_leave_memory --cycles 1000``. Each
cycle waits until the stayer's subscription includes the joiner's tracks,
then removes the joiner.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import time
from collections.abc import Mapping, Sequence

from aiortc import RTCPeerConnection

from benchmarks.load import Clip, LoadClient, encode_clip, until
from server.sfu import RtpForwardingMediaPlane
from signaling.media import ConnectionProblem, ForwardedTrack, ReceivedVideo, SessionDescription

ROOM = "memory"


class InProcessLink:
    """The load clients' ServerLink and the plane's MediaSignals, in one process."""

    def __init__(self, plane: RtpForwardingMediaPlane) -> None:
        self._plane = plane
        self.clients: dict[str, LoadClient] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, participant_id: str, offer_sdp: str) -> str:
        offer = SessionDescription(offer_sdp, "offer")
        return (await self._plane.publish(ROOM, participant_id, offer)).sdp

    async def subscriber_answer(self, participant_id: str, answer_sdp: str, revision: int) -> None:
        answer = SessionDescription(answer_sdp, "answer")
        await self._plane.accept_subscriber_answer(ROOM, participant_id, answer, revision)

    async def send_subscriber_offer(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        revision: int,
        tracks: list[ForwardedTrack],
    ) -> None:
        client = self.clients.get(participant_id)
        if client is None:
            return
        # Answered on a task of its own: the plane is still inside its offer here.
        task = asyncio.ensure_future(client.take_offer(offer.sdp, revision, tracks))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def speaking_changed(self, room_id: str, participant_id: str, speaking: bool) -> None:
        return None

    def connection_problem(
        self, room_id: str, participant_id: str, problem: ConnectionProblem
    ) -> None:
        return None

    def media_failed(self, room_id: str, participant_id: str) -> None:
        return None

    def video_forwarding_changed(
        self, room_id: str, participant_id: str, videos: Sequence[ReceivedVideo]
    ) -> None:
        # The load clients count what arrives; the plane's account of it is not measured.
        return None

    def publish_layers_changed(
        self, room_id: str, participant_id: str, active: Mapping[str, bool]
    ) -> None:
        # The load clients send one pre-encoded stream (no simulcast): nothing to pause.
        return None

    def join(self, participant_id: str, clip: Clip) -> LoadClient:
        client = self.clients[participant_id] = LoadClient(participant_id, clip, self)
        return client


def open_fds() -> int:
    """Descriptors open in this process: sockets (forwarding routes hold duplicates) included."""
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 1e6


async def run(cycles: int) -> dict[str, object]:
    plane = RtpForwardingMediaPlane()
    link = InProcessLink(plane)
    plane.attach(link)
    clip = encode_clip()
    stayer = link.join("p-0", clip)
    await stayer.publish()
    await plane.subscribe(ROOM, stayer.participant_id)
    samples: dict[int, float] = {}
    fds: dict[int, int] = {}
    started = time.monotonic()
    for cycle in range(1, cycles + 1):
        joiner = link.join("p-1", clip)
        await joiner.publish()
        await plane.subscribe(ROOM, joiner.participant_id)
        await until(
            lambda: (
                stayer.subscribe_pc.signalingState == "stable"
                and any(t.participant_id == "p-1" for t in stayer.tracks.values())
            ),
            10,
            "the stayer subscribed to the joiner",
        )
        await plane.remove_participant(ROOM, joiner.participant_id)
        del link.clients[joiner.participant_id]
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
            await until(
                lambda: len(live_peer_connections()) <= len(expected),
                60,
                "closed connections released",
                interval_s=0.5,
            ),
            1,
        )
    except TimeoutError:
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
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.join_leave_memory", description=__doc__
    )
    parser.add_argument("--cycles", type=int, default=1000, help="1-100000 (default 1000)")
    args = parser.parse_args()
    if not 1 <= args.cycles <= 100_000:
        parser.error(f"--cycles: {args.cycles} is not between 1 and 100000")
    print(json.dumps(asyncio.run(run(args.cycles))))


if __name__ == "__main__":
    main()
