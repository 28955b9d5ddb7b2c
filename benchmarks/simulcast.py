"""A simulcast publisher made of aiortc, as Chrome publishes a camera (issue 17).

aiortc cannot simulcast, so this one does what Chrome does on the wire: its
publish offer carries ``a=rid:q|h|f send`` and ``a=simulcast:send q;h;f`` with
the rid and repaired-rid header extensions, and no ``a=ssrc`` lines for the
layers; it sends three VP8 streams (160x120, 320x240, 640x480, encoded once at
start, looped), each on an SSRC of its own with mid and rid in every packet,
a VP8 payload descriptor with a 15-bit picture id, TL0PICIDX and TID, sender
reports per layer, a keyframe when the server asks for one on that layer
(PLI), and retransmissions in RTX (with the repaired rid) when it NACKs.
With ``temporal_layers`` its descriptors also say what Chrome's three VP8
temporal layers would (TID 0, 2, 1, 2 per frame, TL0PICIDX counting TL0
frames, the layer-sync bit as libwebrtc sets it), though the frames still
each reference the one before (aiortc's libvpx cannot encode temporal layers): what is forwarded can
be checked, not decoded beyond a keyframe.
``set_active`` pauses and resumes layers as a browser's ``encodings[i].active``
does (dynacast). Audio goes through aiortc as usual.

The tests (tests/server/sfu/scenarios/simulcast.py) and the benchmark
(``benchmarks/media_forwarding.py --simulcast``) share it.

Test-side use of aiortc private names is confined to ``_PrivateTransport``
below: sending RTP and RTCP through the connection's DTLS transport
(``RTCDtlsTransport._send_rtp``, its ``_rtp_router.register_sender`` so that
PLIs and NACKs addressed to the layers' SSRCs reach this publisher).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
    wrap_rtx,
)
from aiortc.sdp import SessionDescription as ParsedSessionDescription

from benchmarks.load import ReplayTrack, client_peer_connection, encode_audio
from server.sfu import aiortc_internals as internals
from server.sfu.copy_sender import PacketCopies
from signaling.media import SIMULCAST_RIDS, TrackKind

# (rid, width, height, bits per second), lowest first: Chrome's 1/4, 1/2, full.
LAYERS: tuple[tuple[str, int, int, int], ...] = (
    ("q", 160, 120, 150_000),
    ("h", 320, 240, 400_000),
    ("f", 640, 480, 1_000_000),
)
FPS = 30
# Two seconds of video per layer, looped; frame 0 is the only keyframe.
CLIP_FRAMES = 60
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
RRID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
RID_ID = 10
RRID_ID = 11
# Chrome's three VP8 temporal layers (libwebrtc's DefaultTemporalLayers), by frame from
# a keyframe: (TID, layer sync). TL0 updates the 'last' buffer, TL1 'golden' (TL2 none);
# a frame is a layer sync when it references only TL0 or the keyframe: in each 8 frames,
# the TL2 frame that references 'last' only and the TL1 frame that updates 'golden'
# without referencing it.
TEMPORAL_PATTERN: tuple[tuple[int, bool], ...] = (
    (0, False),
    (2, True),
    (1, True),
    (2, False),
    (0, False),
    (2, False),
    (1, False),
    (2, False),
)
# The largest VP8 data per packet (Chrome's packets are about 1,200 bytes).
_MAX_CHUNK = 1100
_HISTORY = 512
_NTP_UNIX_OFFSET_S = 2208988800


@dataclass(frozen=True)
class SimulcastClip:
    """Pre-encoded VP8 frames per rid (frame 0 the keyframe), and 20 ms Opus frames."""

    video: dict[str, list[bytes]]
    audio: list[bytes]


def encode_simulcast_clip(frames: int = CLIP_FRAMES) -> SimulcastClip:
    """Encode one moving picture at each layer's size with libvpx (once, at start)."""
    video: dict[str, list[bytes]] = {}
    for rid, width, height, bitrate in LAYERS:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.bit_rate = bitrate
        codec.framerate = fractions.Fraction(FPS, 1)
        codec.time_base = fractions.Fraction(1, FPS)
        codec.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "g": "100000",
        }
        row = bytes(range(256)) * (width // 256 + 2)
        encoded: list[bytes] = []
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            luma = bytearray(b"".join(row[(i * 3 + r) % 256 :][:width] for r in range(height)))
            patch = width // 6
            for r in range(height // 5, height // 3):
                luma[r * width + width // 3 : r * width + width // 3 + patch] = os.urandom(patch)
            frame.planes[0].update(bytes(luma))
            frame.planes[1].update(bytes([100]) * frame.planes[1].buffer_size)
            frame.planes[2].update(bytes([150]) * frame.planes[2].buffer_size)
            frame.pts = i
            encoded.extend(bytes(p) for p in codec.encode(frame))
        video[rid] = encoded
    return SimulcastClip(video=video, audio=encode_audio())


def simulcast_offer(sdp: str, rids: tuple[str, ...] = SIMULCAST_RIDS) -> str:
    """``sdp`` (aiortc's offer) with its video section made a Chrome-like simulcast offer:
    rid and repaired-rid extmaps, ``a=rid`` and ``a=simulcast`` lines, no ``a=ssrc``."""
    out: list[str] = []
    in_video = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            if in_video:
                out.extend(_simulcast_lines(rids))
            in_video = line.startswith("m=video")
        if in_video and (line.startswith("a=ssrc:") or line.startswith("a=ssrc-group:")):
            continue
        out.append(line)
        if in_video and line.startswith("a=mid:"):
            out.append(f"a=extmap:{RID_ID} {RID_URI}")
            out.append(f"a=extmap:{RRID_ID} {RRID_URI}")
    if in_video:
        out.extend(_simulcast_lines(rids))
    return "\r\n".join(out) + "\r\n"


def _simulcast_lines(rids: tuple[str, ...]) -> list[str]:
    return [*(f"a=rid:{rid} send" for rid in rids), "a=simulcast:send " + ";".join(rids)]


class _Silence(MediaStreamTrack):
    """The video transceiver's track: aiortc's own sender never sends (recv never returns)."""

    kind = "video"

    async def recv(self) -> Any:
        await asyncio.get_running_loop().create_future()


@dataclass
class _Layer:
    rid: str
    frames: list[bytes]
    ssrc: int = field(default_factory=lambda: random.randrange(1, 1 << 32))
    rtx_ssrc: int = field(default_factory=lambda: random.randrange(1, 1 << 32))
    sequence_number: int = field(default_factory=lambda: random.randrange(1 << 15))
    rtx_sequence_number: int = field(default_factory=lambda: random.randrange(1 << 15))
    timestamp_base: int = field(default_factory=lambda: random.randrange(1 << 32))
    picture_id: int = field(default_factory=lambda: random.randrange(1 << 15))
    tl0picidx: int = 0
    index: int = 0
    # Frames since the last keyframe (the temporal pattern's position).
    since_keyframe: int = 0
    active: bool = True
    packets: int = 0
    octets: int = 0
    keyframes_sent: int = 0
    pli_received: int = 0
    history: dict[int, RtpPacket] = field(default_factory=dict)


class _PrivateTransport:
    """The one place this test publisher reaches below aiortc's API (see the module doc)."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        video = next(t for t in pc.getTransceivers() if t.kind == "video")
        self._dtls: Any = video.sender.transport

    @property
    def connected(self) -> bool:
        state: str = self._dtls.state
        return state == "connected"

    async def send(self, data: bytes) -> None:
        await self._dtls._send_rtp(data)

    def on_feedback(self, ssrc: int, handler: Callable[[AnyRtcpPacket], Awaitable[None]]) -> None:
        """Route RTCP feedback naming ``ssrc`` (PLI, NACK) to ``handler``."""

        class Recipient:
            async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
                await handler(packet)

        self._dtls._rtp_router.register_sender(Recipient(), ssrc)


class SimulcastPublisher:
    """A participant's camera in three layers and a microphone, sent as Chrome would."""

    def __init__(
        self, clip: SimulcastClip, *, with_audio: bool = True, temporal_layers: bool = False
    ) -> None:
        self.pc = client_peer_connection()
        self.layers = {rid: _Layer(rid, frames) for rid, frames in clip.video.items()}
        self._with_audio = with_audio
        self._temporal_layers = temporal_layers
        # REMBs that named this camera's layers (the server's estimate for the publisher).
        self.rembs_received = 0
        self.lowest_remb_bps: int | None = None
        self._audio = clip.audio
        self._task: asyncio.Task[None] | None = None
        self._transport: _PrivateTransport | None = None
        self._extensions = HeaderExtensionsMap()
        self._mid = ""
        self._payload_type = 0
        self._rtx_payload_type: int | None = None
        # When each layer was last asked to resume, and when it next sent a keyframe.
        self.resumed_at: dict[str, float] = {}

    async def publish(self, send_offer: Callable[[str], Awaitable[str]]) -> None:
        """Negotiate through ``send_offer`` (offer SDP in, answer SDP out), then start sending."""
        if self._with_audio:
            self.pc.addTransceiver(ReplayTrack(TrackKind.AUDIO, self._audio), "sendonly")
        self.pc.addTransceiver(_Silence(), "sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = simulcast_offer(self.pc.localDescription.sdp)
        answer = await send_offer(offer)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        parsed = ParsedSessionDescription.parse(answer)
        video = next(m for m in parsed.media if m.kind == "video")
        self._mid = video.rtp.muxId
        codecs = video.rtp.codecs
        vp8 = next(c for c in codecs if c.mimeType.lower() == "video/vp8")
        assert vp8.payloadType is not None
        self._payload_type = vp8.payloadType
        self._rtx_payload_type = next(
            (
                c.payloadType
                for c in codecs
                if c.mimeType.lower() == "video/rtx" and c.parameters.get("apt") == vp8.payloadType
            ),
            None,
        )
        ids = {ext.uri: ext.id for ext in video.rtp.headerExtensions}
        self.answered_rids = tuple(
            line.split()[0][6:] for line in answer.splitlines() if line.startswith("a=rid:")
        )
        self._extensions.configure(
            RTCRtpParameters(
                headerExtensions=[
                    RTCRtpHeaderExtensionParameters(id=ids[uri], uri=uri)
                    for uri in (MID_URI, RID_URI, RRID_URI, ABS_SEND_TIME_URI)
                    if uri in ids
                ]
            )
        )
        self._task = asyncio.get_running_loop().create_task(self._run())

    def set_active(self, active: Mapping[str, bool]) -> None:
        """As a browser's ``setParameters`` with ``encodings[i].active``: a layer turned
        on starts again on a keyframe."""
        for rid, on in active.items():
            layer = self.layers.get(rid)
            if layer is None or layer.active == on:
                continue
            layer.active = on
            if on:
                layer.index = 0
                self.resumed_at[rid] = time.monotonic()

    @property
    def mid(self) -> str:
        """The camera section's mid (from the answer)."""
        return self._mid

    @property
    def payload_type(self) -> int:
        """VP8's payload type in the answer."""
        return self._payload_type

    async def send_packet(self, packet: RtpPacket) -> None:
        """Send ``packet`` as it is (its SSRC, mid and rid as set) on this connection,
        protected with its keys like the camera's own: a test's packet on an SSRC of its
        choosing. Only once the connection is up (``publish`` started sending)."""
        transport = self._transport
        if transport is None:
            raise ConnectionError("not connected yet")
        await transport.send(packet.serialize(self._extensions))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.pc.close()

    async def _run(self) -> None:
        transport = self._transport = _PrivateTransport(self.pc)
        connected = asyncio.Event()

        @self.pc.on("connectionstatechange")
        def changed() -> None:
            if self.pc.connectionState == "connected":
                connected.set()

        if not transport.connected:
            await connected.wait()
        for layer in self.layers.values():
            transport.on_feedback(layer.ssrc, self._feedback_for(layer))
        start = time.monotonic()
        frame = 0
        next_report = start
        while True:
            now = time.monotonic()
            for layer in self.layers.values():
                if layer.active:
                    await self._send_frame(transport, layer, frame)
            if now >= next_report:
                next_report = now + 1.0
                for layer in self.layers.values():
                    if layer.packets:
                        await self._send_report(transport, layer, frame)
            frame += 1
            wait = start + frame / FPS - time.monotonic()
            await asyncio.sleep(max(wait, 0))

    async def _send_frame(self, transport: _PrivateTransport, layer: _Layer, frame: int) -> None:
        data = layer.frames[layer.index]
        keyframe = layer.index == 0
        if keyframe:
            layer.keyframes_sent += 1
        # Loop over the frames after the keyframe (the keyframe only on request).
        layer.index = layer.index + 1 if layer.index + 1 < len(layer.frames) else 1
        layer.picture_id = (layer.picture_id + 1) & 0x7FFF
        tid_y = self._temporal_byte(layer, keyframe) if self._temporal_layers else 0x20
        if not self._temporal_layers or tid_y >> 6 == 0:
            layer.tl0picidx = (layer.tl0picidx + 1) & 0xFF
        timestamp = (layer.timestamp_base + frame * 90000 // FPS) & 0xFFFFFFFF
        abs_send_time = int((time.time() + _NTP_UNIX_OFFSET_S) * (1 << 18)) & 0xFFFFFF
        chunks = [data[i : i + _MAX_CHUNK] for i in range(0, len(data), _MAX_CHUNK)]
        for number, chunk in enumerate(chunks):
            descriptor = bytes(
                [
                    0x90 if number == 0 else 0x80,  # X, and S on the first packet
                    0xE0,  # I, L, T
                    0x80 | (layer.picture_id >> 8),
                    layer.picture_id & 0xFF,
                    layer.tl0picidx,
                    tid_y,  # TID and Y (no temporal layers: TID 0, Y)
                ]
            )
            packet = RtpPacket(
                payload_type=self._payload_type,
                marker=1 if number == len(chunks) - 1 else 0,
                sequence_number=layer.sequence_number,
                timestamp=timestamp,
                ssrc=layer.ssrc,
                payload=descriptor + chunk,
            )
            packet.extensions.mid = self._mid
            packet.extensions.rtp_stream_id = layer.rid
            packet.extensions.abs_send_time = abs_send_time
            layer.sequence_number = (layer.sequence_number + 1) & 0xFFFF
            layer.history[packet.sequence_number] = packet
            layer.history.pop((packet.sequence_number - _HISTORY) & 0xFFFF, None)
            layer.packets += 1
            layer.octets += len(packet.payload)
            try:
                await transport.send(packet.serialize(self._extensions))
            except ConnectionError:
                return

    @staticmethod
    def _temporal_byte(layer: _Layer, keyframe: bool) -> int:
        """The TID/Y/KEYIDX byte of this frame, as Chrome's three temporal layers set it
        (libwebrtc's DefaultTemporalLayers): a keyframe restarts the pattern and is TID 0
        with Y; after it, ``TEMPORAL_PATTERN`` gives each frame's TID and layer sync."""
        if keyframe:
            layer.since_keyframe = 1
            return 0x20
        tid, sync = TEMPORAL_PATTERN[layer.since_keyframe % len(TEMPORAL_PATTERN)]
        layer.since_keyframe += 1
        return (tid << 6) | (0x20 if sync else 0)

    async def _send_report(self, transport: _PrivateTransport, layer: _Layer, frame: int) -> None:
        report = RtcpSrPacket(
            ssrc=layer.ssrc,
            sender_info=RtcpSenderInfo(
                ntp_timestamp=int((time.time() + _NTP_UNIX_OFFSET_S) * (1 << 32)),
                rtp_timestamp=(layer.timestamp_base + frame * 90000 // FPS) & 0xFFFFFFFF,
                packet_count=layer.packets & 0xFFFFFFFF,
                octet_count=layer.octets & 0xFFFFFFFF,
            ),
        )
        with contextlib.suppress(ConnectionError):
            await transport.send(bytes(report))

    def _feedback_for(self, layer: _Layer) -> Callable[[AnyRtcpPacket], Awaitable[None]]:
        async def handle(packet: AnyRtcpPacket) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
                layer.pli_received += 1
                layer.index = 0  # the next frame of this layer is its keyframe
            elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                await self._retransmit(layer, packet.lost)
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                # A REMB, routed here once for each of the layers' SSRCs it names.
                with contextlib.suppress(ValueError):
                    bitrate, _ = unpack_remb_fci(packet.fci)
                    self.rembs_received += 1
                    lowest = self.lowest_remb_bps
                    self.lowest_remb_bps = bitrate if lowest is None else min(lowest, bitrate)

        return handle

    async def _retransmit(self, layer: _Layer, lost: list[int]) -> None:
        transport = self._transport
        if transport is None or self._rtx_payload_type is None:
            return
        for seq in lost:
            original = layer.history.get(seq)
            if original is None:
                continue
            rtx = wrap_rtx(
                original,
                payload_type=self._rtx_payload_type,
                sequence_number=layer.rtx_sequence_number,
                ssrc=layer.rtx_ssrc,
            )
            layer.rtx_sequence_number = (layer.rtx_sequence_number + 1) & 0xFFFF
            rtx.extensions.mid = self._mid
            rtx.extensions.repaired_rtp_stream_id = layer.rid
            try:
                await transport.send(rtx.serialize(self._extensions))
            except ConnectionError:
                return


@dataclass
class LayerWatch:
    """What one subscriber receives of one publisher's camera, without decoding."""

    bytes: int = 0
    # Width of the last keyframe received, and when a keyframe of each width first came
    # after ``watch_from`` was set.
    width: int = 0
    watch_from: float | None = None
    first_at_width: dict[int, float] = field(default_factory=dict)
    first_packet_at: float | None = None


@dataclass
class CountingSubscriber:
    """A subscribe connection that counts bytes per publisher and reads the width of each
    VP8 keyframe it receives (the server's C descriptor reader), never decoding."""

    participant_id: str
    answer: Callable[[str, int], Awaitable[None]]
    pc: RTCPeerConnection = field(default_factory=client_peer_connection)
    tracks: dict[str, tuple[str, str]] = field(default_factory=dict)  # mid -> (publisher, kind)
    video: dict[str, LayerWatch] = field(default_factory=dict)
    audio_bytes: dict[str, int] = field(default_factory=dict)
    _hooked: set[int] = field(default_factory=set)

    async def take_offer(self, sdp: str, revision: int, tracks: dict[str, tuple[str, str]]) -> None:
        self.tracks = tracks
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for transceiver in self.pc.getTransceivers():
            mid = transceiver.mid
            if mid is not None and id(transceiver.receiver) not in self._hooked:
                self._hooked.add(id(transceiver.receiver))
                self._count(transceiver.receiver, mid)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.answer(self.pc.localDescription.sdp, revision)

    def watch(self, publisher: str) -> LayerWatch:
        return self.video.setdefault(publisher, LayerWatch())

    def _count(self, receiver: Any, mid: str) -> None:
        async def count(packet: RtpPacket, arrival_time_ms: int) -> None:
            publisher, kind = self.tracks.get(mid, ("", ""))
            if not publisher:
                return
            size = len(packet.payload) + 12
            if kind == "audio":
                self.audio_bytes[publisher] = self.audio_bytes.get(publisher, 0) + size
                return
            watch = self.watch(publisher)
            watch.bytes += size
            now = time.monotonic()
            if watch.first_packet_at is None:
                watch.first_packet_at = now
            copies = PacketCopies(
                marker=False,
                payload=packet.payload,
                padding_size=0,
                abs_send_time=0,
                audio_level=None,
                vp8=True,
            )
            if copies.keyframe and copies.width:
                watch.width = copies.width
                if watch.watch_from is not None and copies.width not in watch.first_at_width:
                    watch.first_at_width[copies.width] = now

        internals.run_without_decoder(receiver, lambda parameters: None)
        internals.intercept_received_rtp(receiver, count, then_aiortc=False)

    def video_bytes(self) -> int:
        return sum(watch.bytes for watch in self.video.values())

    def total_bytes(self) -> int:
        return self.video_bytes() + sum(self.audio_bytes.values())

    def receiving_from(self, publishers: list[str]) -> bool:
        return all(
            (w := self.video.get(p)) is not None and w.first_packet_at is not None
            for p in publishers
        )

    async def close(self) -> None:
        await self.pc.close()
