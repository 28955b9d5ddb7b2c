"""Real aiortc client peers for media-plane tests, and in-test signaling that relays to them.

Clients encode and decode (the server must not). Each sends a solid colour
and a pure tone that identify it, so a receiver can check on the decoded
media whose it is.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from server.sfu import RtpForwardingMediaPlane
from server.sfu.subscription import Subscription
from signaling.media import (
    ConnectionProblem,
    ForwardedTrack,
    ReceivedVideo,
    SessionDescription,
    TrackKind,
)

VIDEO_WIDTH = 160
VIDEO_HEIGHT = 120
VIDEO_FPS = 15
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms

# (Y, U, V) of colours far apart from each other, one per participant.
COLOURS: list[tuple[int, int, int]] = [
    (81, 90, 240),  # red
    (145, 54, 34),  # green
    (41, 240, 110),  # blue
    (210, 16, 146),  # yellow
    (235, 128, 128),  # white
    (16, 128, 128),  # black
]
TONES_HZ: list[int] = [400, 800, 1200, 1600, 2000, 2400]


async def eventually(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.02
) -> float:
    """Wait until ``predicate()`` holds; return how long it took. Fail after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")
        await asyncio.sleep(interval)
    return time.monotonic() - start


async def eventually_async(
    predicate: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.02
) -> float:
    """``eventually`` for a condition that must be awaited (e.g. getStats())."""
    start = time.monotonic()
    while not await predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")
        await asyncio.sleep(interval)
    return time.monotonic() - start


class ColourTrack(MediaStreamTrack):
    """Solid-colour video: the colour says who sent it."""

    kind = "video"

    def __init__(self, colour: tuple[int, int, int]) -> None:
        super().__init__()
        self._colour = colour
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += 90000 // VIDEO_FPS
            wait = self._start + self._pts / 90000 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = VideoFrame(width=VIDEO_WIDTH, height=VIDEO_HEIGHT, format="yuv420p")
        for plane, value in zip(frame.planes, self._colour, strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


class ToneTrack(MediaStreamTrack):
    """A loud pure tone: its frequency says who sent it."""

    kind = "audio"

    def __init__(self, frequency_hz: int) -> None:
        super().__init__()
        self._frequency = frequency_hz
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += AUDIO_SAMPLES
            wait = self._start + self._pts / AUDIO_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        step = 2 * math.pi * self._frequency / AUDIO_RATE
        samples = array.array(
            "h", (int(12000 * math.sin(step * (self._pts + i))) for i in range(AUDIO_SAMPLES))
        )
        frame = AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame


def identify_colour(frame: VideoFrame) -> int:
    """Index of the colour nearest to the decoded frame's centre pixel."""
    pixel = []
    for index, plane in enumerate(frame.planes):
        scale = 1 if index == 0 else 2
        row, col = VIDEO_HEIGHT // 2 // scale, VIDEO_WIDTH // 2 // scale
        pixel.append(bytes(plane)[row * plane.line_size + col])
    return min(
        range(len(COLOURS)),
        key=lambda i: sum((a - b) ** 2 for a, b in zip(COLOURS[i], pixel, strict=True)),
    )


def identify_tone(frame: AudioFrame) -> int | None:
    """Index of the tone nearest to the decoded frame's frequency (None for near silence)."""
    samples = array.array("h", bytes(frame.planes[0]))
    channels = len(frame.layout.channels)
    mono = samples[::channels][: frame.samples]
    if max((abs(s) for s in mono), default=0) < 2000:
        return None
    crossings = sum(1 for a, b in itertools.pairwise(mono) if (a < 0) != (b < 0))
    frequency = crossings / 2 / (len(mono) / frame.sample_rate)
    return min(range(len(TONES_HZ)), key=lambda i: abs(TONES_HZ[i] - frequency))


def client_peer_connection() -> RTCPeerConnection:
    # max-bundle: with aiortc's default (balanced) policy, an answerer given
    # several m-lines of one kind in one offer leaves all but the first of
    # that kind on a transport it then stops (aiortc 1.16); browsers bundle fine.
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


@dataclass
class Reception:
    """What one client received from one publisher on one kind."""

    frames: int = 0
    matching: int = 0
    first_matching_at: float | None = None


async def count_identified_frames(
    track: MediaStreamTrack,
    subscribe_pc: RTCPeerConnection,
    forwarded_at: Callable[[str], ForwardedTrack | None],
    reception: Callable[[str, TrackKind], Reception],
    identity_of: Callable[[str], int | None],
) -> None:
    """Decode a received track (clients may decode; the server never does) and count, per
    publisher, frames whose colour or tone is that publisher's identity."""
    mid: str = next(
        t.mid or "" for t in subscribe_pc.getTransceivers() if t.receiver.track is track
    )
    kind = TrackKind(track.kind)
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        forwarded = forwarded_at(mid)  # looked up per frame: renegotiation reuses mids
        if forwarded is None:
            continue
        if isinstance(frame, VideoFrame):
            identity: int | None = identify_colour(frame)
        elif isinstance(frame, AudioFrame):
            identity = identify_tone(frame)
        else:
            continue
        counts = reception(forwarded.participant_id, kind)
        counts.frames += 1
        if identity is not None and identity == identity_of(forwarded.participant_id):
            counts.matching += 1
            if counts.first_matching_at is None:
                counts.first_matching_at = time.monotonic()


class PlaneEndpoint(Protocol):
    """What a client peer calls on the media plane (the plane itself, or a proxy to it)."""

    async def publish(
        self, room_id: str, participant_id: str, offer: SessionDescription
    ) -> SessionDescription: ...

    async def accept_subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None: ...


@dataclass(kw_only=True)
class ReceivingPeer:
    """The receiving half of a participant's browser, shared by ``ClientPeer`` (which calls
    the media plane directly) and ``wire_peers.WirePeer`` (which goes through Socket.IO).

    It answers subscribe offers, decodes what arrives (clients may decode; the
    server never does) and records whose colour or tone each frame carried.
    """

    subscribe_pc: RTCPeerConnection = field(default_factory=client_peer_connection)
    tracks_by_mid: dict[str, ForwardedTrack] = field(default_factory=dict)
    offers: list[tuple[int, list[ForwardedTrack]]] = field(default_factory=list)
    received: dict[tuple[str, TrackKind], Reception] = field(default_factory=dict)
    subscribe_connected_at: float | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        @self.subscribe_pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._spawn(self._consume(track))

        @self.subscribe_pc.on("connectionstatechange")
        def on_state() -> None:
            if self.subscribe_pc.connectionState == "connected":
                self.subscribe_connected_at = time.monotonic()

    def identity_of(self, participant_id: str) -> int | None:
        """Which colour and tone index ``participant_id`` publishes."""
        raise NotImplementedError

    async def answer_offer(
        self, sdp: str, revision: int, tracks: list[ForwardedTrack]
    ) -> RTCSessionDescription:
        """Take a subscribe offer; the answer to send back."""
        self.offers.append((revision, tracks))
        self.tracks_by_mid = {t.mid: t for t in tracks}
        await self.subscribe_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.subscribe_pc.setLocalDescription(await self.subscribe_pc.createAnswer())
        local: RTCSessionDescription = self.subscribe_pc.localDescription
        # Without abs-send-time the server's copies carry none, so aiortc's receive-side
        # estimator sends no REMB: it lags the rate far more than a browser's, and on a
        # loaded machine its estimate would have the plane pause these peers' video for
        # bandwidth (tests/server/sfu/test_simulcast.py sends the REMBs it tests).
        answer = "\r\n".join(
            line for line in local.sdp.split("\r\n") if "abs-send-time" not in line
        )
        return RTCSessionDescription(sdp=answer, type=local.type)

    def reception(self, publisher_id: str, kind: TrackKind) -> Reception:
        return self.received.setdefault((publisher_id, kind), Reception())

    def subscribed_to(self) -> set[str]:
        """Whose tracks the last subscribe offer carried."""
        return {t.participant_id for t in self.tracks_by_mid.values()}

    def receiver_for(self, publisher_id: str, kind: TrackKind) -> RTCRtpReceiver | None:
        for transceiver in self.subscribe_pc.getTransceivers():
            forwarded = self.tracks_by_mid.get(transceiver.mid or "")
            if forwarded and forwarded.participant_id == publisher_id and forwarded.kind is kind:
                receiver: RTCRtpReceiver = transceiver.receiver
                return receiver
        return None

    async def packets_received(self, publisher_id: str, kind: TrackKind) -> int:
        """RTP packets received from ``publisher_id`` (0 when not subscribed to them)."""
        receiver = self.receiver_for(publisher_id, kind)
        if receiver is None:
            return 0
        stats = await receiver.getStats()
        return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")

    async def stop_receiving(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.subscribe_pc.close()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _consume(self, track: MediaStreamTrack) -> None:
        await count_identified_frames(
            track,
            self.subscribe_pc,
            lambda mid: self.tracks_by_mid.get(mid),
            self.reception,
            self.identity_of,
        )


@dataclass
class ClientPeer(ReceivingPeer):
    """A participant's browser, played by two aiortc peer connections, calling the plane."""

    room_id: str
    participant_id: str
    index: int
    plane: PlaneEndpoint
    publish_pc: RTCPeerConnection = field(default_factory=client_peer_connection)
    # Offers this client receives and never answers (a lost or failed offer).
    offers_to_ignore: int = 0
    ignored: list[int] = field(default_factory=list)

    def identity_of(self, participant_id: str) -> int | None:
        return int(participant_id.rsplit("-", 1)[1])

    async def publish(self) -> None:
        self.publish_pc.addTransceiver(ToneTrack(TONES_HZ[self.index]), direction="sendonly")
        self.publish_pc.addTransceiver(ColourTrack(COLOURS[self.index]), direction="sendonly")
        await self.publish_pc.setLocalDescription(await self.publish_pc.createOffer())
        local = self.publish_pc.localDescription
        answer = await self.plane.publish(
            self.room_id, self.participant_id, SessionDescription(sdp=local.sdp, type="offer")
        )
        await self.publish_pc.setRemoteDescription(
            RTCSessionDescription(sdp=answer.sdp, type=answer.type)
        )

    def offer_arrived(
        self, offer: SessionDescription, revision: int, tracks: list[ForwardedTrack]
    ) -> None:
        if self.offers_to_ignore > 0:
            self.offers_to_ignore -= 1
            self.ignored.append(revision)
            return
        self._spawn(self._answer(offer, revision, tracks))

    async def _answer(
        self, offer: SessionDescription, revision: int, tracks: list[ForwardedTrack]
    ) -> None:
        local = await self.answer_offer(offer.sdp, revision, tracks)
        await self.plane.accept_subscriber_answer(
            self.room_id, self.participant_id, SessionDescription(local.sdp, local.type), revision
        )

    async def close(self) -> None:
        await self.stop_receiving()
        await self.publish_pc.close()


@dataclass
class RelaySignals:
    """MediaSignals for tests: hands subscriber offers to the client peers, records speaking,
    problems, failures, and what each subscriber receives and each publisher should send."""

    clients: dict[str, ClientPeer] = field(default_factory=dict)
    speaking: list[tuple[str, bool]] = field(default_factory=list)
    problems: list[tuple[str, ConnectionProblem]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    # In the order reported: (subscriber, the whole picture of what it receives).
    forwarding: list[tuple[str, list[ReceivedVideo]]] = field(default_factory=list)
    # In the order reported: (publisher, rid -> wanted).
    publish_layers: list[tuple[str, dict[str, bool]]] = field(default_factory=list)

    def received_videos(self, subscriber_id: str) -> dict[str, ReceivedVideo] | None:
        """The latest video_forwarding report for this subscriber, by publisher (None: none yet)."""
        for pid, videos in reversed(self.forwarding):
            if pid == subscriber_id:
                return {video.participant_id: video for video in videos}
        return None

    def wanted_layers(self, publisher_id: str) -> dict[str, bool] | None:
        """The latest publish_layers report for this publisher (None: none yet)."""
        for pid, active in reversed(self.publish_layers):
            if pid == publisher_id:
                return active
        return None

    async def send_subscriber_offer(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        revision: int,
        tracks: list[ForwardedTrack],
    ) -> None:
        client = self.clients.get(participant_id)
        if client is not None:
            client.offer_arrived(offer, revision, tracks)

    def speaking_changed(self, room_id: str, participant_id: str, speaking: bool) -> None:
        self.speaking.append((participant_id, speaking))

    def connection_problem(
        self, room_id: str, participant_id: str, problem: ConnectionProblem
    ) -> None:
        self.problems.append((participant_id, problem))

    def media_failed(self, room_id: str, participant_id: str) -> None:
        self.failed.append(participant_id)

    def video_forwarding_changed(
        self, room_id: str, participant_id: str, videos: Sequence[ReceivedVideo]
    ) -> None:
        self.forwarding.append((participant_id, list(videos)))

    def publish_layers_changed(
        self, room_id: str, participant_id: str, active: Mapping[str, bool]
    ) -> None:
        self.publish_layers.append((participant_id, dict(active)))


ROOM = "room-1"


@dataclass
class Session:
    plane: RtpForwardingMediaPlane
    signals: RelaySignals

    async def join(self, index: int) -> ClientPeer:
        client = ClientPeer(ROOM, f"p-{index}", index, self.plane)
        self.signals.clients[client.participant_id] = client
        await client.publish()
        await self.plane.subscribe(ROOM, client.participant_id)
        return client

    def plane_subscription(self, participant_id: str) -> Subscription:
        participant = self.plane._existing_participant(ROOM, participant_id)
        assert participant is not None and participant.subscription is not None
        return participant.subscription

    async def leave(self, client: ClientPeer) -> None:
        await self.plane.remove_participant(ROOM, client.participant_id)
        del self.signals.clients[client.participant_id]
        await client.close()


def sees_and_hears(client: ClientPeer, others: list[ClientPeer], frames: int = 5) -> bool:
    return all(
        client.reception(other.participant_id, kind).matching >= frames
        for other in others
        for kind in (TrackKind.VIDEO, TrackKind.AUDIO)
    )
