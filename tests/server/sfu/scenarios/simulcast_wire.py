"""Scenario: three parts of the simulcast media plane, seen on the wire by real peers.

Run inside a network namespace (tests/netns.py) by tests/server/sfu/
test_simulcast_wire.py: ``python -m tests.server.sfu.scenarios.simulcast_wire``.
The real plane and real aiortc peers in one process; prints one JSON line of
what was observed, and the test asserts on it.

1. Temporal layers: publisher A sends as Chrome's three VP8 temporal layers
   (benchmarks/simulcast.py, ``temporal_layers``). Subscriber ``capped``
   sends REMBs that leave room for A's lowest layer's base temporal layer
   only, so the plane's own selection caps its leg at TID 0; then REMBs with
   room to spare lift the cap. Every packet it receives is recorded (RTP and
   VP8 descriptor, read here, independently of the plane's C reader).
   ``uncapped`` receives the same layer at the same time, uncapped.
2. REMB to publishers: A and B (simulcast) record the REMBs the server sends
   them; C, a plain aiortc peer publishing one VP8 stream, has its video
   sender's RTCP handling hooked to record its REMBs.
3. The guard's learnt SSRCs: B's connection sends authenticated packets on two
   SSRCs more than its answered rids allow (mid and rid ``q`` and ``f``, which
   are already learnt), each carrying a marker in its payload; ``bq``,
   ``bh``, ``bf`` receive B's three layers and ``watcher`` receives A and C.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCSessionDescription
from aiortc.rtp import RTCP_PSFB_APP, AnyRtcpPacket, RtcpPsfbPacket, unpack_remb_fci

from benchmarks.load import client_peer_connection
from benchmarks.simulcast import SimulcastClip, SimulcastPublisher, encode_simulcast_clip
from server.sfu import aiortc_internals as internals
from server.sfu.aiortc_internals import RtpPacket
from server.sfu.plane import RtpForwardingMediaPlane
from server.sfu.published_track import SIMULCAST_REMB_FLOOR_BPS, PublishedTrack
from signaling.media import (
    ForwardedTrack,
    SessionDescription,
    TileView,
    TrackKind,
)
from tests.server.sfu.peers import ColourTrack, ToneTrack, eventually
from tests.server.sfu.scenarios.simulcast import Signals, send_remb

ROOM = "simulcast-wire"
TIMEOUT_S = 30.0
# REMBs go out a few times a second, as a browser's.
REMB_INTERVAL_S = 0.25
# Frames of TID 0 alone the capped subscriber must receive before the cap is lifted
# (about 3 s at a quarter of 30 frames a second).
CAPPED_FRAMES = 20
# Packets on SSRCs beyond what B's answered rids allow, per extra SSRC.
EXTRA_PACKETS = 45
EXTRA_MARKER = b"not-a-layer-of-this-camera"
# Received after the last packet considered (retransmissions of a late loss may still
# be on their way), so the sequence check leaves this many at the end aside.
SEQUENCE_TAIL = 50


@dataclass(frozen=True, slots=True)
class Vp8Packet:
    """One received video packet: its RTP numbering and VP8 payload descriptor (RFC 7741)."""

    at: float
    seq: int  # extended (wraps counted)
    retransmitted: bool
    frame_start: bool
    keyframe: bool
    width: int  # a keyframe's width, else 0
    picture_id: int | None
    tl0picidx: int | None
    tid: int | None
    layer_sync: bool
    payload: bytes


def read_vp8(payload: bytes) -> tuple[bool, bool, int, int | None, int | None, int | None, bool]:
    """(frame start, keyframe, width, picture id, TL0PICIDX, TID, Y) of a VP8 payload."""
    first = payload[0]
    start = bool(first & 0x10) and first & 0x07 == 0
    i = 1
    picture_id = tl0picidx = tid = None
    sync = False
    if first & 0x80:
        flags = payload[1]
        i = 2
        if flags & 0x80:
            if payload[i] & 0x80:
                picture_id = ((payload[i] & 0x7F) << 8) | payload[i + 1]
                i += 2
            else:
                picture_id = payload[i] & 0x7F
                i += 1
        if flags & 0x40:
            tl0picidx = payload[i]
            i += 1
        if flags & 0x30:
            if flags & 0x20:
                tid = payload[i] >> 6
                sync = bool(payload[i] & 0x20)
            i += 1
    if len(payload) <= i:
        return start, False, 0, picture_id, tl0picidx, tid, sync
    keyframe = start and not payload[i] & 0x01
    width = 0
    if keyframe and payload[i + 3 : i + 6] == b"\x9d\x01\x2a":
        width = int.from_bytes(payload[i + 6 : i + 8], "little") & 0x3FFF
    return start, keyframe, width, picture_id, tl0picidx, tid, sync


@dataclass
class WireSubscriber:
    """A subscribe connection that records every video packet it receives, never decoding.

    aiortc's own receive handling still runs after the record (receiver
    reports, NACKs: a loss on the wire is repaired as for any subscriber),
    without its decoder. Its answer leaves abs-send-time out, so aiortc's own
    receive-side estimator stays quiet: only the REMBs this scenario sends count.
    """

    participant_id: str
    plane: RtpForwardingMediaPlane
    pc: RTCPeerConnection = field(default_factory=client_peer_connection)
    tracks: dict[str, ForwardedTrack] = field(default_factory=dict)
    video: dict[str, list[Vp8Packet]] = field(default_factory=dict)
    audio_packets: dict[str, int] = field(default_factory=dict)
    _vp8: int | None = None
    _rtx: int | None = None
    _last_seq: dict[str, int] = field(default_factory=dict)
    _hooked: set[int] = field(default_factory=set)

    def publisher_of(self, mid: str) -> str | None:
        track = self.tracks.get(mid)
        return None if track is None else track.participant_id

    async def answer(
        self, offer: SessionDescription, revision: int, tracks: list[ForwardedTrack]
    ) -> None:
        self.tracks = {t.mid: t for t in tracks}
        vp8 = re.search(r"a=rtpmap:(\d+) VP8/90000", offer.sdp)
        if vp8 is not None:
            self._vp8 = int(vp8.group(1))
            rtx = re.search(rf"a=fmtp:(\d+) apt={self._vp8}\b", offer.sdp)
            self._rtx = None if rtx is None else int(rtx.group(1))
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        for transceiver in self.pc.getTransceivers():
            if transceiver.mid is not None and id(transceiver.receiver) not in self._hooked:
                self._hooked.add(id(transceiver.receiver))
                self._record(transceiver.receiver, transceiver.mid)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        sdp = self.pc.localDescription.sdp
        sdp = "\r\n".join(line for line in sdp.split("\r\n") if "abs-send-time" not in line)
        await self.plane.accept_subscriber_answer(
            ROOM, self.participant_id, SessionDescription(sdp, "answer"), revision
        )

    def _record(self, receiver: RTCRtpReceiver, mid: str) -> None:
        async def record(packet: RtpPacket, arrival_time_ms: int) -> None:
            publisher = self.publisher_of(mid)
            if publisher is None:
                return
            if self.tracks[mid].kind is TrackKind.AUDIO:
                self.audio_packets[publisher] = self.audio_packets.get(publisher, 0) + 1
                return
            payload = packet.payload
            seq = packet.sequence_number
            retransmitted = packet.payload_type == self._rtx and self._rtx is not None
            if retransmitted:
                if len(payload) < 3:
                    return  # padding
                seq, payload = int.from_bytes(payload[:2], "big"), payload[2:]
            elif packet.payload_type != self._vp8 or not payload:
                return
            self.video.setdefault(publisher, []).append(
                Vp8Packet(
                    time.monotonic(),
                    self._extend(mid, seq),
                    retransmitted,
                    *read_vp8(payload),
                    payload,
                )
            )

        internals.run_without_decoder(receiver, lambda parameters: None)
        internals.intercept_received_rtp(receiver, record, then_aiortc=True)

    def _extend(self, mid: str, seq: int) -> int:
        """``seq`` extended past wraps, by its distance from the last one seen on ``mid``."""
        last = self._last_seq.get(mid)
        if last is None:
            extended = seq + 0x10000
        else:
            delta = ((seq - last + 0x8000) & 0xFFFF) - 0x8000
            extended = last + delta
        if last is None or extended > last:
            self._last_seq[mid] = extended
        return extended

    def packets(self, publisher: str, since: float = 0.0) -> list[Vp8Packet]:
        return [p for p in self.video.get(publisher, []) if p.at >= since]

    def frames(self, publisher: str, since: float = 0.0) -> list[Vp8Packet]:
        """The first packet of each picture received (once, retransmissions aside), in
        the order of their sequence numbers."""
        firsts = {
            p.seq: p
            for p in self.packets(publisher, since)
            if p.frame_start and not p.retransmitted
        }
        return [firsts[s] for s in sorted(firsts)]

    def keyframe_widths(self, publisher: str) -> list[int]:
        return sorted({p.width for p in self.packets(publisher) if p.keyframe and p.width})

    async def close(self) -> None:
        await self.pc.close()


@dataclass
class PlainPublisher:
    """A participant publishing through aiortc as it is: one VP8 stream (no simulcast) and
    a tone, its video sender's REMBs recorded."""

    participant_id: str
    pc: RTCPeerConnection = field(default_factory=client_peer_connection)
    rembs: list[int] = field(default_factory=list)

    async def publish(self, plane: RtpForwardingMediaPlane) -> None:
        self.pc.addTransceiver(ToneTrack(600), direction="sendonly")
        video = self.pc.addTransceiver(ColourTrack((80, 90, 200)), direction="sendonly")
        self._record_remb(video.sender)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await plane.publish(
            ROOM, self.participant_id, SessionDescription(self.pc.localDescription.sdp, "offer")
        )
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))

    def _record_remb(self, sender: RTCRtpSender) -> None:
        # Test-side: the sender's RTCP handler (RTCRtpSender._handle_rtcp_packet, which the
        # transport's router looks up on the instance) is where a REMB naming it arrives.
        target: Any = sender
        original: Callable[[AnyRtcpPacket], Any] = target._handle_rtcp_packet

        async def handle(packet: AnyRtcpPacket) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                self.rembs.append(unpack_remb_fci(packet.fci)[0])
            await original(packet)

        target._handle_rtcp_packet = handle

    async def close(self) -> None:
        await self.pc.close()


def camera(plane: RtpForwardingMediaPlane, publisher: str) -> PublishedTrack:
    return next(t for t in plane.published_tracks(ROOM, publisher) if t.kind is TrackKind.VIDEO)


def missing(packets: Sequence[Vp8Packet], tail: int = SEQUENCE_TAIL) -> list[int]:
    """Sequence numbers between the first received and the last but ``tail`` that never
    arrived (a retransmission fills a loss)."""
    got = {p.seq for p in packets}
    if not got:
        return []
    first, last = min(got), max(got) - tail
    return [n for n in range(first, last + 1) if n not in got]


def steps(values: Sequence[int | None], modulo: int) -> list[int]:
    """Differences between consecutive values, modulo ``modulo`` (None: -1)."""
    return [
        -1 if a is None or b is None else (b - a) % modulo for a, b in itertools.pairwise(values)
    ]


def unknown_ssrc_drops(plane: RtpForwardingMediaPlane) -> int:
    return plane.forwarding_totals().datagrams_dropped.get("unknown_ssrc", 0)


async def with_rembs(
    subscriber: WireSubscriber, bitrate_bps: int, until: Callable[[], bool], what: str
) -> float:
    """Send REMBs of ``bitrate_bps`` until ``until()`` holds; how long it took."""
    start = time.monotonic()
    while not until():
        if time.monotonic() - start > TIMEOUT_S:
            raise AssertionError(f"timed out after {TIMEOUT_S} s waiting for: {what}")
        await send_remb(subscriber.pc, bitrate_bps)
        await asyncio.sleep(REMB_INTERVAL_S)  # the REMBs' pace, not a wait for a condition
    return time.monotonic() - start


async def temporal_part(
    plane: RtpForwardingMediaPlane,
    signals: Signals,
    subscribers: dict[str, WireSubscriber],
) -> dict[str, Any]:
    capped, uncapped = subscribers["capped"], subscribers["uncapped"]
    result: dict[str, Any] = {}
    await eventually(
        lambda: (
            {f.tid for f in capped.frames("A")} >= {0, 1, 2}
            and {f.tid for f in uncapped.frames("A")} >= {0, 1, 2}
        ),
        TIMEOUT_S,
        "both subscribers receive A's three temporal layers",
    )
    track = camera(plane, "A")
    q = track.layers[0]
    leg = track.legs["capped"]
    result["layer_temporal"] = q.temporal
    # The cap is driven through the plane's own selection (downlink estimate, then
    # layer_choice.choose every round), not set on the leg: this subscriber's REMBs leave
    # room for q's base temporal layer (half its rate, BASE_TEMPORAL_SHARE) but not for
    # q itself, and are well under what is sent, so the plane reads a full link.
    q_bps = q.expected_bitrate()
    limit = int(0.65 * q_bps)
    result["q_bps"], result["limit_bps"] = q_bps, limit
    result["cap_after_s"] = await with_rembs(
        capped, limit, lambda: leg.max_temporal == 0, "the capped leg forwards TID 0 only"
    )
    capped_at = time.monotonic()
    # Frames the server sent before the cap may still be on their way: a moment later on.
    window_from = capped_at + 0.3
    await with_rembs(
        capped,
        limit,
        lambda: len(capped.frames("A", window_from)) >= CAPPED_FRAMES,
        "frames received while capped",
    )
    lifted_at = time.monotonic()
    window = capped.frames("A", window_from)
    window = [f for f in window if f.at < lifted_at]
    result["capped"] = {
        "told": signals.told("capped", "A"),
        "frames": len(window),
        "tids": sorted({f.tid for f in window if f.tid is not None}),
        "picture_id_steps": sorted(set(steps([f.picture_id for f in window], 1 << 15))),
        "tl0picidx_steps": sorted(set(steps([f.tl0picidx for f in window], 1 << 8))),
        "uncapped_tids": sorted(
            {
                f.tid
                for f in uncapped.frames("A", window_from)
                if f.at < lifted_at and f.tid is not None
            }
        ),
    }
    # Room to spare: after the plane's hold (downlink.HOLD_S) the cap comes off.
    result["lift_after_s"] = await with_rembs(
        capped,
        50_000_000,
        lambda: leg.max_temporal is None and any(f.tid for f in capped.frames("A", lifted_at)),
        "TID 1 and 2 forwarded again",
    )
    up_at = time.monotonic()
    await with_rembs(
        capped,
        50_000_000,
        lambda: len(capped.frames("A", up_at)) >= 15,
        "frames received after the lift",
    )
    after = capped.frames("A", window_from)
    first_up = next(i for i, f in enumerate(after) if f.tid)
    result["lifted"] = {
        "told": signals.told("capped", "A"),
        # From the TL0 frame before the first higher one: the pattern as sent.
        "tids_from_last_tl0": [f.tid for f in after[first_up - 1 : first_up + 11]],
        "sync_from_last_tl0": [f.layer_sync for f in after[first_up - 1 : first_up + 11]],
    }
    everything = capped.packets("A")
    frames = capped.frames("A")
    result["whole"] = {
        "packets": len(everything),
        "retransmitted": sum(1 for p in everything if p.retransmitted),
        "sequence_missing": missing(everything),
        "picture_id_steps": sorted(set(steps([f.picture_id for f in frames], 1 << 15))),
        "tl0picidx_steps": sorted(set(steps([f.tl0picidx for f in frames], 1 << 8))),
        "switches": leg.switches,
    }
    return result


async def extra_ssrc_part(
    plane: RtpForwardingMediaPlane,
    publisher: SimulcastPublisher,
    subscribers: dict[str, WireSubscriber],
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    receivers = {rid: subscribers[f"b{rid}"] for rid in ("q", "h", "f")}
    widths = {"q": 160, "h": 320, "f": 640}
    await eventually(
        lambda: all(widths[rid] in s.keyframe_widths("B") for rid, s in receivers.items()),
        TIMEOUT_S,
        "B's three layers each reach their subscriber",
    )
    track = camera(plane, "B")
    guard = internals.guard_of(track.receiver)
    assert guard is not None
    layer_ssrcs = {layer.rid: layer.media_ssrc for layer in track.layers}
    accepted = guard.accepted_ssrcs()
    state = track.ssrc_state_count()
    drops_before = unknown_ssrc_drops(plane)
    started = time.monotonic()
    extras = {"q": random.randrange(1, 1 << 32), "f": random.randrange(1, 1 << 32)}
    sent = 0
    for n in range(EXTRA_PACKETS):
        for rid, ssrc in extras.items():
            packet = RtpPacket(
                payload_type=publisher.payload_type,
                marker=1,
                sequence_number=1000 + n,
                timestamp=90000 + n * 3000,
                ssrc=ssrc,
                # A keyframe's descriptor start (S, PID 0), then the marker: forwarded,
                # it would be seen by the subscribers of that rid.
                payload=bytes([0x90, 0x80, 0x80, n, 0x00]) + EXTRA_MARKER,
            )
            packet.extensions.mid = publisher.mid
            packet.extensions.rtp_stream_id = rid
            await publisher.send_packet(packet)
            sent += 1
        await asyncio.sleep(1 / 30)  # the pace of a camera's frames, not a wait for a condition
    await eventually(
        lambda: unknown_ssrc_drops(plane) - drops_before >= sent,
        TIMEOUT_S,
        "the extra SSRCs' packets dropped",
    )
    ended = time.monotonic()
    # Another moment of media after them, so that what kept flowing is seen.
    await eventually(
        lambda: all(len(s.frames("B", ended)) >= 15 for s in receivers.values()),
        TIMEOUT_S,
        "B's layers still forwarded after the extra SSRCs",
    )
    watcher = subscribers["watcher"]
    await eventually(
        lambda: len(watcher.frames("A", ended)) >= 15 and len(watcher.frames("C", ended)) >= 5,
        TIMEOUT_S,
        "the watcher still receives A and C",
    )
    result["sent"] = sent
    result["unknown_ssrc_drops"] = unknown_ssrc_drops(plane) - drops_before
    result["layer_ssrcs_unchanged"] = layer_ssrcs == {
        layer.rid: layer.media_ssrc for layer in track.layers
    }
    result["guard_accepted"] = [accepted, guard.accepted_ssrcs()]
    result["track_ssrc_state"] = [state, track.ssrc_state_count()]
    result["layers"] = {
        rid: {
            "frames_during": len([f for f in s.frames("B", started) if f.at < ended]),
            "frames_after": len(s.frames("B", ended)),
            "widths": s.keyframe_widths("B"),
            "marker_seen": sum(1 for p in s.packets("B") if EXTRA_MARKER in p.payload),
            "sequence_missing": missing(s.packets("B")),
        }
        for rid, s in receivers.items()
    }
    result["others"] = {
        "watcher_frames_after": {p: len(watcher.frames(p, ended)) for p in ("A", "C")},
        "watcher_audio": dict(watcher.audio_packets),
    }
    return result


def view(
    plane: RtpForwardingMediaPlane, subscriber: str, tiles: dict[str, tuple[int, int]]
) -> None:
    """Show ``subscriber`` each publisher at a size ((0, 0): hidden)."""
    plane.set_view(
        ROOM,
        subscriber,
        [
            TileView(p, tiles.get(p, (0, 0)) != (0, 0), *tiles.get(p, (0, 0)))
            for p in ("A", "B", "C")
        ],
    )


async def main() -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING)
    clip: SimulcastClip = encode_simulcast_clip()
    plane = RtpForwardingMediaPlane()
    signals = Signals()
    plane.attach(signals)
    result: dict[str, Any] = {"floor_bps": SIMULCAST_REMB_FLOOR_BPS}
    publishers = {
        "A": SimulcastPublisher(clip, temporal_layers=True),
        "B": SimulcastPublisher(clip),
    }
    signals.publishers.update(publishers)
    plain = PlainPublisher("C")
    names = ("capped", "uncapped", "bq", "bh", "bf", "watcher")
    subscribers = {pid: WireSubscriber(pid, plane) for pid in names}
    signals.subscribers.update(subscribers)
    try:
        for pid, publisher in publishers.items():

            async def send_offer(sdp: str, pid: str = pid) -> str:
                answer = await plane.publish(ROOM, pid, SessionDescription(sdp, "offer"))
                return answer.sdp

            await publisher.publish(send_offer)
        await plain.publish(plane)
        result["answered_rids"] = {p: list(pub.answered_rids) for p, pub in publishers.items()}
        views = {
            "capped": {"A": (160, 120)},
            "uncapped": {"A": (160, 120)},
            "bq": {"B": (160, 120)},
            "bh": {"B": (320, 240)},
            "bf": {"B": (640, 480)},
            "watcher": {"A": (160, 120), "C": (320, 240)},
        }
        # Subscribers come once each camera's three layers arrive: a layer not arriving
        # yet is not chosen (the lowest that is, is), and the legs would start higher.
        await eventually(
            lambda: all(
                layer.live(time.monotonic())
                for p in publishers
                for layer in camera(plane, p).layers
            ),
            TIMEOUT_S,
            "every layer of A and B arriving",
        )
        for pid in subscribers:
            await plane.subscribe(ROOM, pid)
            # At once, before its connection is up: a tile it has not reported yet
            # would get the highest layer meanwhile.
            view(plane, pid, views[pid])

        result["temporal"] = await temporal_part(plane, signals, subscribers)
        result["extra_ssrcs"] = await extra_ssrc_part(plane, publishers["B"], subscribers)

        # By now (tens of seconds) the server's estimator has reported to every publisher.
        await eventually(
            lambda: all(p.rembs_received for p in publishers.values()) and bool(plain.rembs),
            TIMEOUT_S,
            "REMBs reach the publishers",
        )
        result["remb"] = {
            **{
                p: {"count": pub.rembs_received, "lowest": pub.lowest_remb_bps}
                for p, pub in publishers.items()
            },
            "C": {"count": len(plain.rembs), "highest": max(plain.rembs)},
            # What arrives of B's three layers: what the estimate alone follows (about 1.5x).
            "B_received_bps": sum(layer.expected_bitrate() for layer in camera(plane, "B").layers),
        }
    finally:
        for subscriber in subscribers.values():
            await subscriber.close()
        for publisher in publishers.values():
            await publisher.close()
        await plain.close()
        await plane.close()
    return result


if __name__ == "__main__":
    outcome = asyncio.run(main())
    print(json.dumps(outcome))
    sys.exit(0)
