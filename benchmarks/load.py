"""The benchmarks' load: participants that send pre-encoded media and count, never decode.

A clip is encoded once and its packets replayed in real time, so a load of
many participants stays light and the server's CPU is what is measured.
What a participant receives is counted per forwarded track, by sequence
number, without depayloading or decoding. How a participant reaches the
server is a ``ServerLink``: a pipe to a server process (media_forwarding)
or the media plane in the same process (join_leave_memory).
"""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)

from server.sfu import aiortc_internals as internals
from server.sfu.aiortc_internals import RtpPacket
from signaling.media import ForwardedTrack, TrackKind

VIDEO_FPS = 30
VIDEO_BITRATE = 600_000
CLIP_FRAMES = 60
AUDIO_FRAME_SAMPLES = 960


class ServerLink(Protocol):
    """How a load participant reaches the media plane."""

    async def publish(self, participant_id: str, offer_sdp: str) -> str:
        """Hand the publish offer over; returns the server's answer SDP."""
        ...

    async def subscriber_answer(
        self, participant_id: str, answer_sdp: str, revision: int
    ) -> None: ...


@dataclass(frozen=True)
class Clip:
    """Pre-encoded media: VP8 frames (frame 0 the only keyframe) and 20 ms Opus frames."""

    video: list[bytes]
    audio: list[bytes]


def encode_clip() -> Clip:
    video = av.CodecContext.create("libvpx", "w")
    video.width, video.height, video.pix_fmt = 640, 480, "yuv420p"
    video.bit_rate = VIDEO_BITRATE
    video.framerate = fractions.Fraction(VIDEO_FPS, 1)
    video.time_base = fractions.Fraction(1, VIDEO_FPS)
    video.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "g": "100000"}
    # A moving gradient with a noisy patch: enough detail to need ~600 kbps.
    row = bytes(range(256)) * 4
    frames: list[bytes] = []
    for i in range(CLIP_FRAMES):
        frame = av.VideoFrame(640, 480, "yuv420p")
        luma = bytearray(b"".join(row[(i * 3 + r) % 256 :][:640] for r in range(480)))
        for r in range(100, 160):
            luma[r * 640 + 200 : r * 640 + 300] = os.urandom(100)
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(bytes([100]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([150]) * frame.planes[2].buffer_size)
        frame.pts = i
        frames.extend(bytes(p) for p in video.encode(frame))
    return Clip(video=frames, audio=encode_audio())


def encode_audio() -> list[bytes]:
    """One second of a 440 Hz tone as 20 ms Opus frames."""
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate, audio.layout, audio.format, audio.bit_rate = 48000, "stereo", "s16", 32000
    packets: list[bytes] = []
    for i in range(50):
        chunk = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_FRAME_SAMPLES)
        chunk.sample_rate = 48000
        chunk.pts = i * AUDIO_FRAME_SAMPLES
        samples = (
            int(8000 * math.sin(2 * math.pi * 440 * (i * AUDIO_FRAME_SAMPLES + n // 2) / 48000))
            for n in range(2 * AUDIO_FRAME_SAMPLES)
        )
        chunk.planes[0].update(array.array("h", samples).tobytes())
        packets.extend(bytes(p) for p in audio.encode(chunk))
    return packets


class ReplayTrack(MediaStreamTrack):
    """Replays pre-encoded packets in real time; a keyframe request restarts the clip."""

    def __init__(self, kind: TrackKind, packets: list[bytes]) -> None:
        super().__init__()
        self.kind = kind.value
        self._packets = packets
        self._rate = 90000 if kind is TrackKind.VIDEO else 48000
        self._step = 90000 // VIDEO_FPS if kind is TrackKind.VIDEO else AUDIO_FRAME_SAMPLES
        self._index = 0
        self._pts = 0
        self._start: float | None = None

    def restart_at_keyframe(self) -> None:
        self._index = 0

    async def recv(self) -> av.Packet[Any]:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += self._step
            wait = self._start + self._pts / self._rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        data = self._packets[self._index]
        # Loop over the clip's frames after the keyframe (the keyframe only on request).
        self._index = self._index + 1 if self._index + 1 < len(self._packets) else 1
        packet = av.Packet(data)
        packet.pts = self._pts
        packet.time_base = fractions.Fraction(1, self._rate)
        return packet


@dataclass
class StreamCount:
    """Packets one client received on one forwarded track.

    With ``clock_rate`` set it also keeps each counted packet's transit: arrival
    (perf_counter) minus media time (its RTP timestamp over the clock rate). The
    server keeps a publisher's timestamps up to a constant per run, and a replayed
    track stamps each packet with the time it is due, so a packet's transit less
    the smallest transit seen on the stream is how much later than the fastest
    packet it arrived: what the path (publisher, server, subscriber) added.
    Video copies also carry the server's abs-send-time, stamped as it starts
    sending the copies of a packet: the same with that time in place of the
    arrival (``server_transits``) leaves out the subscriber's own delays.
    """

    first_at: float | None = None
    seen: int = 0  # every packet, counting or not
    counting: bool = False
    received: int = 0
    base: int | None = None
    highest: int = 0
    clock_rate: int | None = None
    transits: list[float] = field(default_factory=list)
    fastest: float = math.inf
    server_transits: list[float] = field(default_factory=list)
    server_fastest: float = math.inf
    _cycles: int = 0
    _last_seq: int | None = None
    _timestamp_cycles: int = 0
    _last_timestamp: int | None = None
    _sent_cycles: int = 0
    _last_sent: int | None = None

    def add(self, seq: int, timestamp: int = 0, abs_send_time: int | None = None) -> None:
        if self.first_at is None:
            self.first_at = time.monotonic()
        self.seen += 1
        if self.clock_rate is not None:
            self._transit(timestamp, abs_send_time)
        if self._last_seq is not None and seq < 0x4000 and self._last_seq > 0xC000:
            self._cycles += 0x10000
        self._last_seq = seq
        if not self.counting:
            return
        extended = self._cycles + seq
        if self.base is None:
            self.base = extended
        self.received += 1
        self.highest = max(self.highest, extended)

    def _transit(self, timestamp: int, abs_send_time: int | None) -> None:
        last = self._last_timestamp
        if last is not None and timestamp < last and last - timestamp > 0x80000000:
            self._timestamp_cycles += 0x100000000
        self._last_timestamp = timestamp
        assert self.clock_rate is not None
        media_time = (self._timestamp_cycles + timestamp) / self.clock_rate
        transit = time.perf_counter() - media_time
        self.fastest = min(self.fastest, transit)
        if self.counting:
            self.transits.append(transit)
        if abs_send_time is None:
            return
        # abs-send-time: seconds in 6.18 fixed point, 24 bits (it wraps every 64 s).
        sent = self._last_sent
        if sent is not None and abs_send_time < sent and sent - abs_send_time > 0x800000:
            self._sent_cycles += 0x1000000
        self._last_sent = abs_send_time
        server_transit = (self._sent_cycles + abs_send_time) / (1 << 18) - media_time
        self.server_fastest = min(self.server_fastest, server_transit)
        if self.counting:
            self.server_transits.append(server_transit)

    def added_delays_ms(self) -> list[float]:
        """Each counted packet's transit over the stream's fastest, in ms."""
        return [(transit - self.fastest) * 1000 for transit in self.transits]

    def server_added_delays_ms(self) -> list[float]:
        """The same up to the server's sending of each copy (video only), in ms."""
        return [(transit - self.server_fastest) * 1000 for transit in self.server_transits]

    @property
    def expected(self) -> int:
        return 0 if self.base is None else self.highest - self.base + 1


def client_peer_connection() -> RTCPeerConnection:
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


@dataclass
class LoadClient:
    participant_id: str
    clip: Clip
    server: ServerLink
    publish_pc: RTCPeerConnection = field(default_factory=client_peer_connection)
    subscribe_pc: RTCPeerConnection = field(default_factory=client_peer_connection)
    tracks: dict[str, ForwardedTrack] = field(default_factory=dict)
    streams: dict[str, StreamCount] = field(default_factory=dict)
    _hooked: set[int] = field(default_factory=set)
    # Keep each packet's transit (StreamCount): what benchmarks/workers.py measures.
    measure_transit: bool = False

    async def publish(self) -> None:
        video = ReplayTrack(TrackKind.VIDEO, self.clip.video)
        self.publish_pc.addTransceiver(ReplayTrack(TrackKind.AUDIO, self.clip.audio), "sendonly")
        sender = self.publish_pc.addTransceiver(video, "sendonly").sender
        internals.on_keyframe_request(sender, video.restart_at_keyframe)
        await self.publish_pc.setLocalDescription(await self.publish_pc.createOffer())
        sdp = await self.server.publish(self.participant_id, self.publish_pc.localDescription.sdp)
        await self.publish_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def take_offer(self, sdp: str, revision: int, tracks: list[ForwardedTrack]) -> None:
        new = {t.mid: t for t in tracks}
        # A departed publisher's transceiver is reused for the next one (or for the
        # same one come back): what its mid received so far came before, so the
        # count starts afresh whenever a mid is (re)assigned.
        for mid, track in new.items():
            previous = self.tracks.get(mid)
            if mid in self.streams and (
                previous is None or previous.participant_id != track.participant_id
            ):
                self.streams[mid] = StreamCount(
                    counting=self.streams[mid].counting, clock_rate=self.streams[mid].clock_rate
                )
        self.tracks = new
        await self.subscribe_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for transceiver in self.subscribe_pc.getTransceivers():
            if id(transceiver.receiver) not in self._hooked and transceiver.mid is not None:
                self._hooked.add(id(transceiver.receiver))
                self._count(transceiver.receiver, transceiver.mid)
        await self.subscribe_pc.setLocalDescription(await self.subscribe_pc.createAnswer())
        local = self.subscribe_pc.localDescription.sdp
        await self.server.subscriber_answer(self.participant_id, local, revision)

    def _count(self, receiver: RTCRtpReceiver, mid: str) -> None:
        stream = self.streams.setdefault(mid, StreamCount())
        track = self.tracks.get(mid)
        if self.measure_transit and track is not None:
            stream.clock_rate = 90000 if track.kind is TrackKind.VIDEO else 48000

        async def count(packet: RtpPacket, arrival_time_ms: int) -> None:
            # Looked up per packet: a reused mid's count starts again (take_offer).
            self.streams[mid].add(
                packet.sequence_number, packet.timestamp, packet.extensions.abs_send_time
            )

        internals.run_without_decoder(receiver, lambda parameters: None)
        internals.intercept_received_rtp(receiver, count, then_aiortc=False)

    def video_from(self, publisher: str) -> StreamCount | None:
        for mid, track in self.tracks.items():
            if track.participant_id == publisher and track.kind is TrackKind.VIDEO:
                return self.streams.get(mid)
        return None

    def receiving_from_all(self, publishers: list[str]) -> bool:
        return all(
            (s := self.video_from(p)) is not None and s.first_at is not None for p in publishers
        )

    async def close(self) -> None:
        await self.publish_pc.close()
        await self.subscribe_pc.close()


async def until(
    predicate: Callable[[], bool], within_s: float, what: str, interval_s: float = 0.05
) -> float:
    """Wait until ``predicate()`` holds; return how long it took (TimeoutError past the limit)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within_s:
            raise TimeoutError(f"benchmark: timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(interval_s)
    return time.monotonic() - started
