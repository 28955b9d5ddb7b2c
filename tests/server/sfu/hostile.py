"""A hostile participant against the real media plane, and what to measure around her.

The plane runs on an event loop of its own thread (``ServerThread``), so its
CPU time (``time.thread_time`` in that thread) is measured apart from the
clients'. Honest participants are ``ClientPeer``s (real aiortc peers that
encode, send and decode). The hostile one is a ``ClientPeer`` too, publishing
real audio and video, plus ``CraftedSender``: packets she writes herself,
protected with her own SRTP keys and sent on her publish connection's
selected pair, as a malicious browser could.

Crafted packets go through an SRTP session of their own, made from the same
DTLS keying material as her connection's: her client's session would refuse
its own honest packets after a crafted one far ahead (libsrtp's replay
window), and it is the server, not her client, that is under test.

To add a family: a function taking a ``Hostile`` and a ``random.Random``
that sends with ``send_rtp``/``send_rtcp`` and returns how many it sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pylibsrtp import Error as SrtpError
from pylibsrtp import Policy, Session

from server.sfu import aiortc_internals as internals
from server.sfu.plane import RtpForwardingMediaPlane
from signaling.media import ConnectionProblem, ForwardedTrack, ReceivedVideo, SessionDescription
from tests.server.sfu.peers import ROOM, ClientPeer, RelaySignals

T = TypeVar("T")

_ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
_MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"


class ServerThread:
    """An event loop in a thread of its own, for the media plane."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="server", daemon=True)
        self._thread.start()

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work()`` on the server's loop; its result, awaited from the caller's loop."""

        async def wrapped() -> T:
            return await work()

        future: Future[T] = asyncio.run_coroutine_threadsafe(wrapped(), self.loop)
        return await asyncio.wrap_future(future)

    async def call(self, work: Callable[[], T]) -> T:
        """Call ``work()`` in the server's thread (reading its state safely)."""

        async def wrapped() -> T:
            return work()

        return await self.run(wrapped)

    async def cpu_seconds(self) -> float:
        """CPU time of the server's thread so far."""
        return await self.call(time.thread_time)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class PlaneProxy:
    """The plane's client-facing calls, made from the clients' loop (``PlaneEndpoint``)."""

    def __init__(self, server: ServerThread, plane: RtpForwardingMediaPlane) -> None:
        self._server = server
        self._plane = plane

    async def publish(
        self, room_id: str, participant_id: str, offer: SessionDescription
    ) -> SessionDescription:
        return await self._server.run(lambda: self._plane.publish(room_id, participant_id, offer))

    async def accept_subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None:
        await self._server.run(
            lambda: self._plane.accept_subscriber_answer(room_id, participant_id, answer, revision)
        )


class ThreadSignals:
    """MediaSignals on the server's thread, relayed to ``RelaySignals`` on the clients' loop."""

    def __init__(self, clients_loop: asyncio.AbstractEventLoop, relay: RelaySignals) -> None:
        self._loop = clients_loop
        self._relay = relay

    async def send_subscriber_offer(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        revision: int,
        tracks: list[ForwardedTrack],
    ) -> None:
        asyncio.run_coroutine_threadsafe(
            self._relay.send_subscriber_offer(room_id, participant_id, offer, revision, tracks),
            self._loop,
        )

    def speaking_changed(self, room_id: str, participant_id: str, speaking: bool) -> None:
        self._loop.call_soon_threadsafe(
            self._relay.speaking_changed, room_id, participant_id, speaking
        )

    def connection_problem(
        self, room_id: str, participant_id: str, problem: ConnectionProblem
    ) -> None:
        self._loop.call_soon_threadsafe(
            self._relay.connection_problem, room_id, participant_id, problem
        )

    def media_failed(self, room_id: str, participant_id: str) -> None:
        self._loop.call_soon_threadsafe(self._relay.media_failed, room_id, participant_id)

    def video_forwarding_changed(
        self, room_id: str, participant_id: str, videos: Sequence[ReceivedVideo]
    ) -> None:
        self._loop.call_soon_threadsafe(
            self._relay.video_forwarding_changed, room_id, participant_id, list(videos)
        )

    def publish_layers_changed(
        self, room_id: str, participant_id: str, active: Mapping[str, bool]
    ) -> None:
        self._loop.call_soon_threadsafe(
            self._relay.publish_layers_changed, room_id, participant_id, dict(active)
        )


class CraftedSender:
    """Sends RTP/RTCP she wrote herself on her publish connection, protected with her keys."""

    def __init__(self, publish_pc: Any) -> None:
        dtls: Any = publish_pc.getTransceivers()[0].sender.transport
        self._dtls = dtls
        self._connection: Any = dtls.transport._connection
        self.session = _crafting_session(dtls)
        self.sent = 0

    def send_rtp(self, packet: bytes) -> None:
        """Protect one clear RTP packet and send it to the server.

        A sending session refuses an index behind its own window, which a
        crafted sequence is free to go to: a fresh session with the same keys
        protects it (the server's receiving session is what is under test).
        """
        try:
            protected = self.session.protect(packet)
        except SrtpError:
            self.session = _crafting_session(self._dtls)
            protected = self.session.protect(packet)
        self.send_datagram(protected)

    def send_rtcp(self, compound: bytes) -> None:
        """Protect one clear RTCP compound packet and send it to the server."""
        self.send_datagram(self.session.protect_rtcp(compound))

    def send_datagram(self, data: bytes) -> None:
        """Send bytes as they are (hand-rolled SRTP where libsrtp refuses to protect)."""
        pair = self._connection._nominated[1]
        pair.protocol.transport.sendto(data, pair.remote_addr)
        self.sent += 1


def _crafting_session(dtls: Any) -> Session:
    """An SRTP sending session with her connection's keys (as aiortc's ``_setup_srtp``)."""
    ssl = dtls._ssl
    selected = ssl.get_selected_srtp_profile()
    profile = next(p for p in dtls._srtp_profiles if p.openssl_profile == selected)
    view = ssl.export_keying_material(
        b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length)
    )
    index = 1 if dtls._role == "server" else 0
    policy = Policy(
        key=profile.get_key_and_salt(view, index),
        ssrc_type=Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=profile.libsrtp_profile,
    )
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return Session(policy)


def rtp_packet(
    *,
    ssrc: int,
    sequence_number: int,
    payload_type: int,
    timestamp: int = 0,
    payload: bytes = b"\x00" * 20,
    extensions: list[tuple[int, bytes]] | None = None,
    marker: bool = False,
) -> bytes:
    """A clear RTP packet, with one-byte header extensions given as (id, raw value) as they are."""
    first = 0x80
    header_extension = b""
    if extensions:
        first |= 0x10
        body = b"".join(
            bytes([(ext_id << 4) | (len(value) - 1)]) + value for ext_id, value in extensions
        )
        body += b"\x00" * (-len(body) % 4)
        header_extension = struct.pack("!HH", 0xBEDE, len(body) // 4) + body
    second = (0x80 if marker else 0) | payload_type
    return (
        struct.pack("!BBHLL", first, second, sequence_number & 0xFFFF, timestamp, ssrc)
        + header_extension
        + payload
    )


@dataclass
class Hostile:
    """The hostile participant: her client peer, what she negotiated, and her crafted sender."""

    client: ClientPeer
    sender: CraftedSender
    audio_ssrc: int
    video_ssrc: int
    video_rtx_ssrc: int
    audio_payload_type: int
    video_payload_type: int
    video_rtx_payload_type: int
    abs_send_time_id: int
    mid_id: int
    # The next sequence number her crafted RTX stream uses.
    rtx_sequence: int = field(default_factory=lambda: random.randrange(0x8000))

    def send_rtp(self, packet: bytes) -> None:
        self.sender.send_rtp(packet)

    def send_rtcp(self, compound: bytes) -> None:
        self.sender.send_rtcp(compound)

    def next_rtx_sequence(self) -> int:
        seq = self.rtx_sequence
        self.rtx_sequence = (seq + 1) & 0xFFFF
        return seq


def make_hostile(client: ClientPeer) -> Hostile:
    """Read what her publish connection negotiated; attach a crafted sender to it."""
    pc = client.publish_pc
    audio, video = pc.getTransceivers()[:2]
    answer = pc.remoteDescription.sdp
    video_section = answer[answer.index("m=video") :]

    def codec_type(transceiver: Any, mime: str) -> int:
        codecs: list[Any] = transceiver._codecs
        return int(next(c.payloadType for c in codecs if c.mimeType.lower() == mime))

    def extension_id(uri: str) -> int:
        found = re.search(rf"a=extmap:(\d+) {re.escape(uri)}", video_section)
        assert found is not None, f"{uri} not negotiated"
        return int(found.group(1))

    return Hostile(
        client=client,
        sender=CraftedSender(pc),
        audio_ssrc=audio.sender._ssrc,
        video_ssrc=video.sender._ssrc,
        video_rtx_ssrc=video.sender._rtx_ssrc,
        audio_payload_type=codec_type(audio, "audio/opus"),
        video_payload_type=codec_type(video, "video/vp8"),
        video_rtx_payload_type=codec_type(video, "video/rtx"),
        abs_send_time_id=extension_id(_ABS_SEND_TIME_URI),
        mid_id=extension_id(_MID_URI),
    )


# -- families: each sends a bounded, seeded batch and returns how many --------------


def far_ahead_sequence_numbers(h: Hostile, rng: random.Random, highest: int, count: int) -> int:
    """Her own video SSRC, each packet far (1,000-64,000) from her stream, never two in a row."""
    previous = -1
    for _ in range(count):
        seq = (highest + rng.randrange(1500, 64000)) & 0xFFFF
        if seq == (previous + 1) & 0xFFFF:
            seq = (seq + 7) & 0xFFFF
        previous = seq
        h.send_rtp(
            rtp_packet(ssrc=h.video_ssrc, sequence_number=seq, payload_type=h.video_payload_type)
        )
    return count


def rtx_far_ahead_original(h: Hostile, rng: random.Random, highest: int, count: int) -> int:
    """RTX in sequence on her RTX SSRC, each carrying an original sequence number far ahead."""
    for _ in range(count):
        original = (highest + rng.randrange(5000, 60000)) & 0xFFFF
        h.send_rtp(
            rtp_packet(
                ssrc=h.video_rtx_ssrc,
                sequence_number=h.next_rtx_sequence(),
                payload_type=h.video_rtx_payload_type,
                payload=struct.pack("!H", original) + b"\x10" * 30,
            )
        )
    return count


def many_new_ssrcs(h: Hostile, rng: random.Random, count: int) -> int:
    """A new SSRC per packet, on her negotiated payload types."""
    for _ in range(count):
        h.send_rtp(
            rtp_packet(
                ssrc=rng.getrandbits(32),
                sequence_number=rng.getrandbits(16),
                payload_type=rng.choice((h.video_payload_type, h.audio_payload_type)),
            )
        )
    return count


def wrong_size_header_extensions(h: Hostile, rng: random.Random, count: int) -> int:
    """abs-send-time of 1, 2 or 4 bytes instead of 3; a mid that is not UTF-8. On her RTX SSRC."""
    for i in range(count):
        if i % 2:
            extensions = [(h.abs_send_time_id, bytes(rng.choice((1, 2, 4))))]
        else:
            extensions = [(h.mid_id, b"\xff\xfe\xfd")]
        h.send_rtp(
            rtp_packet(
                ssrc=h.video_rtx_ssrc,
                sequence_number=h.next_rtx_sequence(),
                payload_type=h.video_rtx_payload_type,
                extensions=extensions,
            )
        )
    return count


def flood(h: Hostile, rng: random.Random, count: int) -> int:
    """As fast as she can: small packets, far beyond her connection's budget."""
    for _ in range(count):
        h.send_rtp(
            rtp_packet(
                ssrc=h.audio_ssrc ^ 1,
                sequence_number=rng.getrandbits(16),
                payload_type=h.audio_payload_type,
            )
        )
    return count


def malformed_datagrams(
    targets: list[tuple[str, int]], rng: random.Random, count: int, source_host: str
) -> int:
    """Datagrams from an unrelated socket at the server's media ports: random, oversize, and
    STUN-, RTP-, RTCP- and DTLS-looking."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source_host, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    makers: list[Callable[[], bytes]] = [
        lambda: rng.randbytes(rng.randrange(1, 1400)),
        lambda: rng.randbytes(rng.randrange(1501, 9000)),
        lambda: (
            struct.pack("!HHL", rng.choice((0x0001, 0x0101, 0x0111)), 0, 0x2112A442)
            + rng.randbytes(12 + rng.randrange(0, 200))
        ),
        lambda: bytes([0x80, rng.randrange(0, 128)]) + rng.randbytes(rng.randrange(10, 1480)),
        lambda: (
            bytes([0x80 | rng.randrange(0, 32), rng.randrange(192, 209)])
            + rng.randbytes(rng.randrange(2, 1400))
        ),
        lambda: (
            bytes([rng.choice((20, 21, 22, 23)), 0xFE, 0xFD])
            + rng.randbytes(rng.randrange(10, 1400))
        ),
    ]
    try:
        for i in range(count):
            data = makers[i % len(makers)]()
            try:
                sock.sendto(data, targets[i % len(targets)])
            except OSError:
                continue  # oversize beyond what the kernel sends: counted as sent anyway
    finally:
        sock.close()
    return count


def server_media_ports(plane: RtpForwardingMediaPlane) -> list[tuple[str, int]]:
    """Every local (host, port) the server's ICE sockets listen on."""
    ports: list[tuple[str, int]] = []
    for pc in plane.peer_connections():
        for transceiver in pc.getTransceivers():
            dtls: Any = transceiver.receiver.transport
            if dtls is None:
                continue
            for protocol in dtls.transport._connection._protocols:
                host, port = protocol.transport.get_extra_info("sockname")[:2]
                if (host, port) not in ports:
                    ports.append((host, port))
    return ports


def ssrc_state(plane: RtpForwardingMediaPlane, participant_id: str) -> int:
    """SSRC-keyed entries the server keeps for a participant's publish connection."""
    total = 0
    guards = set()
    for track in plane.published_tracks(ROOM, participant_id):
        total += track.ssrc_state_count()
        guard = internals.guard_of(track.receiver)
        if guard is not None and id(guard) not in guards:
            guards.add(id(guard))
            total += guard.accepted_ssrcs()
    return total


class LogWatch(logging.Handler):
    """Counts log records that carry a traceback (exc_info, or one formatted into the message)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.tracebacks = 0
        self.warnings = 0
        self.examples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            self.warnings += 1
        if record.exc_info or "Traceback" in text:
            self.tracebacks += 1
            if len(self.examples) < 3:
                self.examples.append(f"{record.name}: {text[:300]}")
