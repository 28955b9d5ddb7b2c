"""Pure pieces of the media plane: keyframe detection and pacing, speaking, leg rewriting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap
from hypothesis import given, settings
from hypothesis import strategies as st

from server.media._copy_sender import MAX_PLAINTEXT
from server.media.aiortc_internals import RtpPacket
from server.media.forwarding import ForwardingLeg, SubscriberSlot
from server.media.keyframes import KeyframeRequester, is_vp8_keyframe_start
from server.media.rtp_bytes import (
    HISTORY_SIZE,
    MAX_COPY,
    CopySender,
    ExtensionIds,
    OversizeCopy,
    PacketCopies,
    SrtpError,
)
from server.media.speaking import SpeakingDetector, SpeakingThresholds
from signaling.media import TrackKind
from tests.server.media.peers import eventually


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


# -- VP8 keyframes -----------------------------------------------------------


def test_vp8_keyframe_start_plain_descriptor() -> None:
    assert is_vp8_keyframe_start(bytes([0x10, 0x00, 0x9D]))  # S=1 PID=0, P=0
    assert not is_vp8_keyframe_start(bytes([0x10, 0x01]))  # interframe
    assert not is_vp8_keyframe_start(bytes([0x00, 0x00]))  # not a partition start
    assert not is_vp8_keyframe_start(bytes([0x11, 0x00]))  # partition 1
    assert not is_vp8_keyframe_start(b"")


def test_vp8_keyframe_start_with_extended_fields() -> None:
    # X=1; I=1 with a 15-bit picture id; L=1; T=1: header is 6 bytes long.
    descriptor = bytes([0x90, 0xE0, 0x80 | 0x12, 0x34, 0x05, 0x20])
    assert is_vp8_keyframe_start(descriptor + bytes([0x00]))
    assert not is_vp8_keyframe_start(descriptor + bytes([0x01]))
    # 7-bit picture id only.
    assert is_vp8_keyframe_start(bytes([0x90, 0x80, 0x12, 0x00]))
    assert not is_vp8_keyframe_start(bytes([0x90, 0x80]))  # truncated


# -- keyframe pacing -----------------------------------------------------------


async def test_keyframe_requests_are_coalesced_and_deferred_not_dropped() -> None:
    sent: list[float] = []
    loop = asyncio.get_running_loop()

    async def send_pli() -> None:
        sent.append(loop.time())

    requester = KeyframeRequester(send_pli, loop.time, min_interval_s=0.2)
    requester.request()
    await eventually(lambda: len(sent) == 1, 1, "first PLI sent at once")
    for _ in range(5):
        requester.request()  # inside the window: one deferred PLI covers them all
    assert requester.pending
    await eventually(lambda: len(sent) == 2, 1, "deferred PLI")
    assert sent[1] - sent[0] >= 0.19
    assert requester.sent_count == 2
    requester.close()


async def test_closed_requester_sends_nothing() -> None:
    sent: list[int] = []

    async def send_pli() -> None:
        sent.append(1)

    requester = KeyframeRequester(send_pli, asyncio.get_running_loop().time, 10)
    requester.request()
    requester.request()
    requester.close()
    await asyncio.sleep(0)
    assert len(sent) <= 1 and not requester.pending


# -- speaking -----------------------------------------------------------------


def feed(detector: SpeakingDetector, clock: FakeClock, level: int, seconds: float) -> list[bool]:
    changes = []
    for _ in range(int(seconds / 0.02)):
        clock.now += 0.02
        change = detector.observe(level)
        if change is not None:
            changes.append(change)
    return changes


def test_speaking_needs_sustained_voice_and_survives_short_pauses() -> None:
    clock = FakeClock()
    detector = SpeakingDetector(clock, SpeakingThresholds())
    assert feed(detector, clock, 30, 0.1) == []  # a click is not speech
    assert feed(detector, clock, 127, 0.5) == []
    assert feed(detector, clock, 30, 0.3) == [True]
    assert feed(detector, clock, 127, 0.4) == []  # a pause between words
    assert feed(detector, clock, 30, 0.2) == []
    assert feed(detector, clock, 127, 1.0) == [False]
    assert not detector.speaking


def test_speaking_reset_reports_only_a_real_change() -> None:
    clock = FakeClock()
    detector = SpeakingDetector(clock, SpeakingThresholds())
    assert detector.reset() is None
    feed(detector, clock, 20, 0.5)
    assert detector.reset() is False


# -- leg rewriting ------------------------------------------------------------


@dataclass
class FakeTrack:
    kind: TrackKind
    participant_id: str = "pub"
    clock_rate: int = 90000
    live_legs: list[Any] = field(default_factory=list)

    def leg_went_live(self, leg: Any) -> None:
        self.live_legs.append(leg)

    def request_keyframe(self) -> None: ...


def make_leg(kind: TrackKind) -> tuple[ForwardingLeg, SubscriberSlot]:
    slot = SubscriberSlot(kind, transceiver=None)  # type: ignore[arg-type]
    leg = ForwardingLeg(FakeTrack(kind), "sub", slot)  # type: ignore[arg-type]
    return leg, slot


def test_video_leg_starts_on_a_keyframe_and_moves_the_lines() -> None:
    leg, slot = make_leg(TrackKind.VIDEO)
    first_seq = slot.next_sequence_number
    assert leg.place(100, 9000, False, 0.0) is None  # a delta frame: wait for a keyframe
    copy = leg.place(101, 12000, True, 0.0)
    assert copy is not None
    assert copy[0] == first_seq
    follow = leg.place(102, 15000, False, 0.0)
    assert follow is not None
    assert follow[0] == (first_seq + 1) & 0xFFFF
    assert (follow[1] - copy[1]) & 0xFFFFFFFF == 3000


def test_paused_audio_resumes_with_contiguous_sequence_numbers() -> None:
    leg, _slot = make_leg(TrackKind.AUDIO)
    a = leg.place(65535, 0, False, 0.0)
    b = leg.place(0, 960, False, 0.02)  # wraps
    assert a is not None and b is not None
    assert b[0] == (a[0] + 1) & 0xFFFF
    leg.pause()  # muted: packets 1..49 are dropped upstream of the leg
    c = leg.place(50, 48000, False, 1.0)
    assert c is not None
    assert c[0] == (b[0] + 1) & 0xFFFF  # no gap to NACK
    assert (c[1] - b[1]) & 0xFFFFFFFF == 48000 - 960  # time passed
    # A late packet from before the resume would reuse taken numbers: dropped.
    assert leg.place(10, 9600, False, 1.0) is None


def test_reordered_packets_within_a_run_keep_their_place() -> None:
    leg, _slot = make_leg(TrackKind.AUDIO)
    first = leg.place(10, 0, False, 0.0)
    third = leg.place(12, 1920, False, 0.0)
    second = leg.place(11, 960, False, 0.0)
    assert first and second and third
    assert [first[0] + 1, first[0] + 2] == [second[0], third[0]]


def test_long_runs_do_not_reject_current_packets() -> None:
    leg, _slot = make_leg(TrackKind.AUDIO)
    for seq in range(0, 70000, 7):
        assert leg.place(seq & 0xFFFF, seq * 960, False, 0.0) is not None


def test_new_leg_on_a_reused_slot_continues_its_lines() -> None:
    leg, slot = make_leg(TrackKind.AUDIO)
    last = leg.place(500, 123456, False, 10.0)
    assert last is not None
    successor = ForwardingLeg(FakeTrack(TrackKind.AUDIO, clock_rate=48000), "sub", slot)  # type: ignore[arg-type]
    first = successor.place(9, 777, False, 11.0)
    assert first is not None
    assert first[0] == (last[0] + 1) & 0xFFFF
    assert (first[1] - last[1]) & 0xFFFFFFFF == 48000 + 1


# -- RTP bytes -------------------------------------------------------------------


def parse_with(ids: ExtensionIds, data: bytes) -> RtpPacket:
    uris = {
        "urn:ietf:params:rtp-hdrext:sdes:mid": ids.mid,
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": ids.abs_send_time,
        "urn:ietf:params:rtp-hdrext:ssrc-audio-level": ids.audio_level,
    }
    parameters = RTCRtpParameters(
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=i, uri=uri) for uri, i in uris.items() if i
        ]
    )
    extension_map = HeaderExtensionsMap()
    extension_map.configure(parameters)
    return RtpPacket.parse(data, extension_map)


@pytest.mark.parametrize("padding_size", [0, 7])
@pytest.mark.parametrize("mid", ["0", "12", "abc"])
def test_packet_copies_parse_back_as_aiortc_reads_them(mid: str, padding_size: int) -> None:
    ids = ExtensionIds(mid=4, abs_send_time=2, audio_level=1)
    copies = PacketCopies(
        marker=True,
        payload=b"opus-frame",
        padding_size=padding_size,
        abs_send_time=0x1234567,
        audio_level=(True, 33),
    )
    line = ids.copy_sender(0xABCDEF, 111, mid)
    parsed = parse_with(ids, line.write(copies, 65535, 0xFFFFFFF0))
    assert (parsed.version, parsed.marker, parsed.payload_type) == (2, 1, 111)
    assert (parsed.sequence_number, parsed.timestamp, parsed.ssrc) == (65535, 0xFFFFFFF0, 0xABCDEF)
    assert parsed.payload == b"opus-frame"
    assert parsed.padding_size == padding_size
    assert parsed.extensions.mid == mid
    assert parsed.extensions.abs_send_time == 0x234567
    assert parsed.extensions.audio_level == (True, 33)


def test_packet_copies_without_audio_level_or_negotiated_ids() -> None:
    copies = PacketCopies(
        marker=False, payload=b"vp8", padding_size=0, abs_send_time=5, audio_level=None
    )
    ids = ExtensionIds(mid=9, abs_send_time=None, audio_level=None)
    parsed = parse_with(ids, ids.copy_sender(3, 96, "3").write(copies, 1, 2))
    assert parsed.extensions.mid == "3"
    assert parsed.extensions.abs_send_time is None
    assert parsed.marker == 0 and parsed.payload == b"vp8"
    # No mid negotiated: the extension block is there, and empty.
    bare = ExtensionIds(mid=None, abs_send_time=None, audio_level=None).copy_sender(3, 96, "3")
    data = bare.write(copies, 1, 2)
    assert data[12:16] == b"\xbe\xde\x00\x00" and data[16:] == b"vp8"


def test_copy_sender_keeps_counts_and_forgets_overwritten_copies() -> None:
    copies = PacketCopies(
        marker=True, payload=b"vp8-frame", padding_size=3, abs_send_time=77, audio_level=None
    )
    assert copies.payload_size == len(b"vp8-frame")  # sender reports count no padding
    line = ExtensionIds(mid=9, abs_send_time=3, audio_level=None).copy_sender(30, 96, "7")
    first = line.write(copies, 10, 20)
    assert line.kept(10) == first
    assert line.kept(11) is None
    assert (line.packets, line.payload_octets, line.bytes_sent) == (1, 9, len(first))
    line.write(copies, 10 + HISTORY_SIZE, 20)  # the same place in the history
    assert line.kept(10) is None
    assert line.kept(10 + HISTORY_SIZE) is not None
    assert line.route is None
    # A second __init__ starts the line afresh.
    line.__init__(  # type: ignore[misc]
        ssrc=31, payload_type=96, mid_element=b"", abs_send_time_id=0, audio_level_id=0
    )
    assert (line.packets, line.bytes_sent, line.kept(10 + HISTORY_SIZE)) == (0, 0, None)


def test_copy_sender_refuses_bad_input_and_changes_nothing() -> None:
    copies = PacketCopies(
        marker=False, payload=b"x", padding_size=0, abs_send_time=0, audio_level=None
    )
    ids = ExtensionIds(mid=1, abs_send_time=None, audio_level=None)
    line = ids.copy_sender(1, 96, "0")
    with pytest.raises(OverflowError):
        line.write(copies, 0x10000, 0)
    with pytest.raises(OverflowError):
        line.write(copies, 0, 1 << 32)
    with pytest.raises(TypeError):
        line.write(b"not copies", 0, 0)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="no route"):
        line.send(copies, 0, 0)
    with pytest.raises(RuntimeError, match="no route"):
        line.send_packet(b"\x80" * 12)
    assert (line.packets, line.bytes_sent, line.kept(0)) == (0, 0, None)
    with pytest.raises(ValueError):
        ids.copy_sender(1, 200, "0")
    with pytest.raises(ValueError):
        ids.copy_sender(1, 96, "x" * 17)
    with pytest.raises(OverflowError):
        ids.copy_sender(1 << 32, 96, "0")
    with pytest.raises(OverflowError):
        line.write(copies, 0, (1 << 64) + 5)  # never silently truncated
    for malformed in (bytes(17), b"\x10", b"\x00\x30", b"\x11\x30"):
        with pytest.raises(ValueError):
            CopySender(
                ssrc=1, payload_type=96, mid_element=malformed, abs_send_time_id=0, audio_level_id=0
            )
    with pytest.raises(TypeError):
        line.attach(object())  # type: ignore[arg-type]

    def packet(**overrides: Any) -> PacketCopies:
        fields: dict[str, Any] = {
            "marker": False,
            "payload": b"x",
            "padding_size": 0,
            "abs_send_time": 0,
            "audio_level": None,
        }
        return PacketCopies(**(fields | overrides))

    with pytest.raises(ValueError):
        packet(audio_level=(True, 200))
    with pytest.raises(TypeError):
        packet(audio_level=33)
    with pytest.raises(ValueError):
        packet(padding_size=256)
    with pytest.raises(ValueError):
        packet(payload=bytes(MAX_PLAINTEXT))


# -- One subscriber's failure ----------------------------------------------------


class RecordingOutput:
    """A slot's output that records copies, or refuses them as a failed SRTP session does."""

    # A fixed header, and a one-byte extension block with mid, abs-send-time and level.
    header_size = 28

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.sent: list[int] = []

    def send_copy(
        self, copies: PacketCopies, sequence_number: int, timestamp: int, ntp: int, rtp: int
    ) -> int:
        if self.fail:
            raise SrtpError(9)  # srtp_err_status_replay_fail, say
        self.sent.append(sequence_number)
        return len(copies.payload)


async def test_a_subscriber_whose_srtp_fails_costs_the_others_nothing() -> None:
    from aiortc import RTCPeerConnection

    from server.media.published_track import PublishedTrack
    from server.media.stats import ForwardingStats

    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("audio", direction="recvonly").receiver
    stats = ForwardingStats()
    track = PublishedTrack(
        "pub",
        TrackKind.AUDIO,
        receiver,
        clock=FakeClock(),
        keyframe_interval_s=1.0,
        stats=stats,
        on_audio_level=lambda level: None,
    )
    outputs = {"broken": RecordingOutput(fail=True), "fine": RecordingOutput(fail=False)}
    for subscriber_id, output in outputs.items():
        slot = SubscriberSlot(TrackKind.AUDIO, transceiver=None)  # type: ignore[arg-type]
        slot.output = output  # type: ignore[assignment]
        leg = ForwardingLeg(track, subscriber_id, slot)
        slot.leg = leg
        leg.negotiated = True
        track.add_leg(leg)
    for seq in (1, 2):
        packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq * 960, ssrc=5)
        packet.payload = b"opus"
        track._forward(packet, arrival_time_ms=0)
    assert len(outputs["fine"].sent) == 2
    assert stats.copies_failed == 2
    assert stats.packets_out == 2
    track.close()
    await pc.close()


# -- The C writer, fuzzed against aiortc's parser ---------------------------------


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(min_size=1, max_size=1400),
    padding_size=st.integers(0, 255),
    marker=st.booleans(),
    ids=st.lists(st.integers(1, 14), min_size=3, max_size=3, unique=True),
    negotiated=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    mid=st.text(alphabet="0123456789abcdef", min_size=1, max_size=16),
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    abs_send_time=st.integers(0, (1 << 32) - 1),
    audio_level=st.none() | st.tuples(st.booleans(), st.integers(0, 127)),
)
def test_every_copy_parses_back_as_written(
    payload: bytes,
    padding_size: int,
    marker: bool,
    ids: list[int],
    negotiated: tuple[bool, bool, bool],
    mid: str,
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    abs_send_time: int,
    audio_level: tuple[bool, int] | None,
) -> None:
    mid_id, abs_id, level_id = (i if on else None for i, on in zip(ids, negotiated, strict=True))
    extension_ids = ExtensionIds(mid=mid_id, abs_send_time=abs_id, audio_level=level_id)
    copies = PacketCopies(
        marker=marker,
        payload=payload,
        padding_size=padding_size,
        abs_send_time=abs_send_time,
        audio_level=audio_level,
    )
    line = extension_ids.copy_sender(ssrc, payload_type, mid)
    if line.header_size + len(payload) + padding_size > MAX_COPY:
        # Over the MTU once rewritten: refused, neither kept nor counted.
        with pytest.raises(OversizeCopy):
            line.write(copies, sequence_number, timestamp)
        assert line.kept(sequence_number) is None
        assert (line.packets, line.bytes_sent) == (0, 0)
        return
    data = line.write(copies, sequence_number, timestamp)
    assert len(data) <= line.header_size + len(payload) + padding_size
    assert line.kept(sequence_number) == data
    parsed = parse_with(extension_ids, data)
    assert (parsed.payload_type, parsed.sequence_number, parsed.timestamp, parsed.ssrc) == (
        payload_type,
        sequence_number,
        timestamp,
        ssrc,
    )
    assert (parsed.marker, parsed.payload, parsed.padding_size) == (
        int(marker),
        payload,
        padding_size,
    )
    assert parsed.extensions.mid == (mid if mid_id else None)
    assert parsed.extensions.abs_send_time == (abs_send_time & 0xFFFFFF if abs_id else None)
    assert parsed.extensions.audio_level == (audio_level if level_id else None)
    assert (line.packets, line.payload_octets) == (1, len(payload))
