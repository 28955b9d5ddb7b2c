"""Scenario: simulcast publishers and subscribers with different tiles and downlinks.

Run inside a network namespace (tests/netns.py) by tests/server/sfu/
test_simulcast.py: ``python -m tests.server.sfu.scenarios.simulcast``. The
real plane and real aiortc peers in one process: two simulcast publishers
(benchmarks/simulcast.py, as Chrome sends a camera) and subscribers that
decode what they get (the server never does). Prints one JSON line of what
was observed; the test asserts on it.

1. Tiles: ``big`` shows A large, ``small`` as a thumbnail, ``hidden`` not at
   all; what each decodes (frame widths) and is told (``video_forwarding``).
2. Switching: ``big``'s tile shrinks and grows again; frames keep decoding,
   the sequence line has no gap, nothing fails to decode.
3. Dynacast: while nobody wants A's ``f``, A is asked to pause it (and does,
   as a browser would); wanted again, it is resumed at once.
4. A downlink too small for both cameras (its REMB says so): moved down,
   and the less relevant camera paused, audio untouched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci
from av import VideoFrame

from benchmarks.load import client_peer_connection
from benchmarks.simulcast import SimulcastClip, SimulcastPublisher, encode_simulcast_clip
from server.sfu import aiortc_internals as internals
from server.sfu.aiortc_internals import RtpPacket
from server.sfu.plane import RtpForwardingMediaPlane
from signaling.media import (
    ConnectionProblem,
    ForwardedTrack,
    ReceivedVideo,
    SessionDescription,
    TileView,
    TrackKind,
)
from tests.server.sfu.peers import eventually

ROOM = "simulcast"
TIMEOUT_S = 30.0
# Dynacast turns a layer off after this long unwanted (the plane's default is 5 s).
LAYER_OFF_AFTER_S = 2.0


class DecodeErrors(logging.Handler):
    """Counts aiortc's "failed to decode" warnings (a broken stream shows there)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to decode" in record.getMessage():
            self.count += 1


@dataclass
class Subscriber:
    """A subscriber that decodes video, and watches the sequence numbers it receives."""

    participant_id: str
    plane: RtpForwardingMediaPlane
    # No abs-send-time in its answer: aiortc's receive-side estimator (which lags the
    # rate far more than Chrome's) stays quiet; the REMBs this scenario sends count.
    without_abs_send_time: bool = True
    pc: RTCPeerConnection = field(default_factory=client_peer_connection)
    tracks: dict[str, ForwardedTrack] = field(default_factory=dict)
    # Per publisher: (time, width) of each decoded frame.
    frames: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    audio_packets: dict[str, int] = field(default_factory=dict)
    video_packets: dict[str, int] = field(default_factory=dict)
    # Video sequence numbers received per mid (extended; retransmissions included), to
    # find numbers that never arrived.
    received: dict[str, set[int]] = field(default_factory=dict)
    _last_seq: dict[str, int] = field(default_factory=dict)
    _cycles: dict[str, int] = field(default_factory=dict)
    _hooked: set[int] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                task = asyncio.get_running_loop().create_task(self._decode(track))
                self._tasks.add(task)

    def publisher_of(self, mid: str) -> str | None:
        track = self.tracks.get(mid)
        return None if track is None else track.participant_id

    def missing(self, publisher: str, first: int, last: int) -> int:
        """Sequence numbers between two received ones (extended) that never arrived."""
        got = set().union(
            *(r for m, r in self.received.items() if self.publisher_of(m) == publisher)
        )
        return sum(1 for n in range(first, last + 1) if n not in got)

    def span(self, publisher: str) -> int:
        """The highest extended sequence number received of ``publisher``'s video."""
        got = [r for m, r in self.received.items() if self.publisher_of(m) == publisher]
        return max((max(r) for r in got if r), default=0)

    def widths(self, publisher: str, since: float = 0.0) -> list[int]:
        return [width for at, width in self.frames.get(publisher, []) if at >= since]

    async def answer(
        self, offer: SessionDescription, revision: int, tracks: list[ForwardedTrack]
    ) -> None:
        self.tracks = {t.mid: t for t in tracks}
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        for transceiver in self.pc.getTransceivers():
            if transceiver.mid is not None and id(transceiver.receiver) not in self._hooked:
                self._hooked.add(id(transceiver.receiver))
                self._watch(transceiver.receiver, transceiver.mid)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        sdp = self.pc.localDescription.sdp
        if self.without_abs_send_time:
            sdp = "\r\n".join(line for line in sdp.split("\r\n") if "abs-send-time" not in line)
        await self.plane.accept_subscriber_answer(
            ROOM, self.participant_id, SessionDescription(sdp, "answer"), revision
        )

    def _watch(self, receiver: RTCRtpReceiver, mid: str) -> None:
        async def observe(packet: RtpPacket, arrival_time_ms: int) -> None:
            publisher = self.publisher_of(mid)
            if publisher is None:
                return
            track = self.tracks[mid]
            if track.kind is TrackKind.AUDIO:
                self.audio_packets[publisher] = self.audio_packets.get(publisher, 0) + 1
                return
            self.video_packets[publisher] = self.video_packets.get(publisher, 0) + 1
            seq = packet.sequence_number
            last = self._last_seq.get(mid)
            if last is not None and seq < 0x4000 and last > 0xC000:
                self._cycles[mid] = self._cycles.get(mid, 0) + 0x10000
            if last is None or 0 < (seq - last) & 0xFFFF < 0x8000:
                self._last_seq[mid] = seq
            cycles = self._cycles.get(mid, 0)
            if last is not None and seq > 0xC000 and last < 0x4000:
                cycles -= 0x10000  # a late packet from before the wrap
            self.received.setdefault(mid, set()).add(cycles + seq)

        internals.intercept_received_rtp(receiver, observe, then_aiortc=True)

    async def _decode(self, track: MediaStreamTrack) -> None:
        mid = next(t.mid for t in self.pc.getTransceivers() if t.receiver.track is track)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            publisher = self.publisher_of(mid or "")
            if publisher is not None and isinstance(frame, VideoFrame):
                self.frames.setdefault(publisher, []).append((time.monotonic(), frame.width))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


async def send_remb(pc: RTCPeerConnection, bitrate_bps: int) -> None:
    """A REMB from a subscriber naming every SSRC it receives (as Chrome's), through
    its subscribe connection ``pc``."""
    transceivers = pc.getTransceivers()
    dtls: Any = transceivers[0].receiver.transport
    ssrcs = [
        s.ssrc
        for t in transceivers
        for s in (await t.receiver.getStats()).values()
        if s.type == "inbound-rtp"
    ]
    packet = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(bitrate_bps, ssrcs)
    )
    # Test-side: aiortc has no API to send RTCP of one's own (RTCDtlsTransport._send_rtp).
    await dtls._send_rtp(bytes(packet))


class Answering(Protocol):
    """A subscriber the scenario's signals hand subscribe offers to."""

    async def answer(
        self, offer: SessionDescription, revision: int, tracks: list[ForwardedTrack]
    ) -> None: ...


@dataclass
class Signals:
    """MediaSignals for the scenario: offers to subscribers, layer requests to publishers."""

    subscribers: dict[str, Answering] = field(default_factory=dict)
    publishers: dict[str, SimulcastPublisher] = field(default_factory=dict)
    forwarding: dict[str, dict[str, ReceivedVideo]] = field(default_factory=dict)
    layer_requests: list[tuple[float, str, dict[str, bool]]] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def send_subscriber_offer(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        revision: int,
        tracks: list[ForwardedTrack],
    ) -> None:
        subscriber = self.subscribers.get(participant_id)
        if subscriber is not None:
            task = asyncio.get_running_loop().create_task(
                subscriber.answer(offer, revision, tracks)
            )
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def speaking_changed(self, room_id: str, participant_id: str, speaking: bool) -> None:
        pass

    def connection_problem(
        self, room_id: str, participant_id: str, problem: ConnectionProblem
    ) -> None:
        pass

    def media_failed(self, room_id: str, participant_id: str) -> None:
        pass

    def video_forwarding_changed(
        self, room_id: str, participant_id: str, videos: Sequence[ReceivedVideo]
    ) -> None:
        self.forwarding[participant_id] = {v.participant_id: v for v in videos}

    def publish_layers_changed(
        self, room_id: str, participant_id: str, active: Mapping[str, bool]
    ) -> None:
        self.layer_requests.append((time.monotonic(), participant_id, dict(active)))
        publisher = self.publishers.get(participant_id)
        if publisher is not None:
            publisher.set_active(active)  # as the web client's setParameters

    def told(self, subscriber: str, publisher: str) -> tuple[str | None, str | None] | None:
        video = self.forwarding.get(subscriber, {}).get(publisher)
        if video is None:
            return None
        return video.layer, None if video.paused is None else video.paused.value


def view(
    plane: RtpForwardingMediaPlane, subscriber: str, tiles: dict[str, tuple[bool, int, int]]
) -> None:
    plane.set_view(ROOM, subscriber, [TileView(p, v, w, h) for p, (v, w, h) in tiles.items()])


async def main() -> dict[str, Any]:
    errors = DecodeErrors()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().addHandler(errors)
    clip: SimulcastClip = encode_simulcast_clip()
    plane = RtpForwardingMediaPlane(layer_off_after_s=LAYER_OFF_AFTER_S)
    signals = Signals()
    plane.attach(signals)
    result: dict[str, Any] = {}
    publishers = {pid: SimulcastPublisher(clip) for pid in ("A", "B")}
    signals.publishers.update(publishers)
    subscribers = {pid: Subscriber(pid, plane) for pid in ("big", "small", "hidden", "limited")}
    signals.subscribers.update(subscribers)
    try:
        for pid, publisher in publishers.items():

            async def send_offer(sdp: str, pid: str = pid) -> str:
                answer = await plane.publish(ROOM, pid, SessionDescription(sdp, "offer"))
                return answer.sdp

            await publisher.publish(send_offer)
        result["answered_rids"] = list(publishers["A"].answered_rids)
        for pid in subscribers:
            await plane.subscribe(ROOM, pid)
        view(plane, "big", {"A": (True, 640, 480), "B": (False, 0, 0)})
        view(plane, "small", {"A": (True, 160, 120), "B": (False, 0, 0)})
        view(plane, "hidden", {"A": (False, 0, 0), "B": (False, 0, 0)})
        # (Until part 4, the limited subscriber shows nobody, so it wants no layer.)
        view(plane, "limited", {"A": (False, 0, 0), "B": (False, 0, 0)})

        # 1. Each tile its layer.
        await eventually(lambda: 640 in subscribers["big"].widths("A"), TIMEOUT_S, "big at 640")
        await eventually(lambda: 160 in subscribers["small"].widths("A"), TIMEOUT_S, "small at 160")
        await eventually(
            lambda: subscribers["hidden"].audio_packets.get("A", 0) > 50,
            TIMEOUT_S,
            "hidden hears A",
        )
        tracks = plane.published_tracks(ROOM, "A")
        camera = next(t for t in tracks if t.kind is TrackKind.VIDEO)
        result["layers_learnt"] = {
            layer.rid: [layer.media_ssrc is not None, layer.width, layer.height]
            for layer in camera.layers
        }
        now = time.monotonic()
        await asyncio.sleep(1.0)  # a window to count frames in, not a wait for a condition
        result["tiles"] = {
            "big": sorted(set(subscribers["big"].widths("A", now))),
            "small": sorted(set(subscribers["small"].widths("A", now))),
            "hidden_frames": len(subscribers["hidden"].widths("A")),
            "hidden_video_packets": subscribers["hidden"].video_packets.get("A", 0),
            "hidden_audio_packets": subscribers["hidden"].audio_packets.get("A", 0),
        }
        result["told"] = {s: signals.told(s, "A") for s in ("big", "small", "hidden")}

        # 2 and 3. Big's tile shrinks: down to q; nobody wants f, so A pauses it; it grows
        # again: f is resumed at once and big switches back up.
        big = subscribers["big"]
        first_seq = big.span("A") + 1
        frames_before = len(big.widths("A"))
        shrunk_at = time.monotonic()
        view(plane, "big", {"A": (True, 160, 120), "B": (False, 0, 0)})
        await eventually(lambda: big.widths("A", shrunk_at)[-1:] == [160], TIMEOUT_S, "big down")
        result["down_s"] = time.monotonic() - shrunk_at
        await eventually(
            lambda: not publishers["A"].layers["f"].active, TIMEOUT_S, "A asked to pause f"
        )
        result["f_paused_after_s"] = time.monotonic() - shrunk_at
        paused_requests = [r for _, p, r in signals.layer_requests if p == "A"]
        result["layer_requests_while_small"] = paused_requests[-1:]
        grown_at = time.monotonic()
        view(plane, "big", {"A": (True, 640, 480), "B": (False, 0, 0)})
        await eventually(lambda: publishers["A"].layers["f"].active, TIMEOUT_S, "A resumes f")
        result["f_resumed_after_s"] = time.monotonic() - grown_at
        await eventually(lambda: 640 in big.widths("A", grown_at), TIMEOUT_S, "big back up")
        first_high = next(at for at, w in big.frames["A"] if at >= grown_at and w == 640)
        result["up_s"] = first_high - grown_at
        await asyncio.sleep(1.0)  # frames after the switch, counted below
        result["switching"] = {
            "frames_decoded": len(big.widths("A")) - frames_before,
            # Numbers never received through both switches (a retransmission fills a loss).
            "sequence_missing": big.missing("A", first_seq, big.span("A") - 50),
            "decode_errors": errors.count,
            "switches": sum(
                leg.switches for leg in camera.legs.values() if leg.subscriber_id == "big"
            ),
        }

        # 4. A downlink that carries one low layer and the audio, not two cameras.
        limited = subscribers["limited"]
        plane.set_video_priority(ROOM, ["A"])
        view(plane, "limited", {"A": (True, 1280, 720), "B": (True, 1280, 720)})
        await eventually(
            lambda: 640 in limited.widths("A") and 640 in limited.widths("B"),
            TIMEOUT_S,
            "limited receiving both at f (no estimate yet)",
        )
        q_bps = max(
            next(layer for layer in t.layers if layer.rid == "q").expected_bitrate()
            for pid in ("A", "B")
            for t in plane.published_tracks(ROOM, pid)
            if t.kind is TrackKind.VIDEO
        )
        # REMB covers the video copies (they carry abs-send-time): room for one q and a half.
        limit = int(1.5 * q_bps)
        result["limit_bps"] = limit
        limited_at = time.monotonic()
        audio_before = dict(limited.audio_packets)

        def limited_as_expected() -> bool:
            return signals.told("limited", "A") == ("q", None) and signals.told("limited", "B") == (
                None,
                "bandwidth",
            )

        deadline = time.monotonic() + TIMEOUT_S
        while not limited_as_expected() and time.monotonic() < deadline:
            await send_remb(limited.pc, limit)
            await asyncio.sleep(0.25)  # REMBs go out a few times a second, as a browser's
        result["limited_told"] = {p: signals.told("limited", p) for p in ("A", "B")}
        result["limited_after_s"] = time.monotonic() - limited_at
        # Within the hold that follows congestion (8 s): what operators see, and a second
        # of what arrives (the switch to A's q and B's pause take a keyframe and a packet).
        quality = plane.connection_quality(ROOM, "limited")
        result["limited_quality"] = (
            None
            if quality is None
            else {
                "video_layers_received": quality.video_layers_received,
                "videos_paused": quality.videos_paused,
                "downlink_estimate_kbps": quality.downlink_estimate_kbps,
            }
        )
        await send_remb(limited.pc, limit)
        await asyncio.sleep(0.5)
        settled = time.monotonic()
        for _ in range(4):
            await send_remb(limited.pc, limit)
            await asyncio.sleep(0.25)
        result["limited_widths"] = {p: sorted(set(limited.widths(p, settled))) for p in "AB"}
        result["limited_audio_packets"] = {
            p: limited.audio_packets.get(p, 0) - audio_before.get(p, 0) for p in "AB"
        }
        quality_a = plane.connection_quality(ROOM, "A")
        result["publisher_layers"] = None if quality_a is None else quality_a.layers_published
    finally:
        for subscriber in subscribers.values():
            await subscriber.close()
        for publisher in publishers.values():
            await publisher.close()
        await plane.close()
    return result


if __name__ == "__main__":
    outcome = asyncio.run(main())
    print(json.dumps(outcome))
    sys.exit(0)
