"""Pure pieces of the media plane: keyframe detection and pacing, speaking, leg rewriting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from server.media.aiortc_internals import RtpPacket
from server.media.forwarding import ForwardingLeg, SubscriberSlot
from server.media.keyframes import KeyframeRequester, is_vp8_keyframe_start
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


@dataclass
class FakeOutput:
    ssrc: int = 4242
    payload_type: int = 111
    mid: str | None = "7"


def make_leg(kind: TrackKind) -> tuple[ForwardingLeg, SubscriberSlot]:
    slot = SubscriberSlot(kind, transceiver=None)  # type: ignore[arg-type]
    leg = ForwardingLeg(FakeTrack(kind), "sub", slot)  # type: ignore[arg-type]
    return leg, slot


def packet(seq: int, ts: int, payload: bytes = b"\x90\x80\x01\x00") -> RtpPacket:
    p = RtpPacket(payload_type=96, sequence_number=seq & 0xFFFF, timestamp=ts, ssrc=1)
    p.payload = payload
    return p


KEY = bytes([0x10, 0x00])
DELTA = bytes([0x10, 0x01])


def test_video_leg_starts_on_a_keyframe_and_rewrites_the_header() -> None:
    leg, slot = make_leg(TrackKind.VIDEO)
    out = FakeOutput()
    first_seq = slot.next_sequence_number
    assert leg.rewrite(packet(100, 9000, DELTA), out, False, 0.0) is None  # type: ignore[arg-type]
    copy = leg.rewrite(packet(101, 12000, KEY), out, True, 0.0)  # type: ignore[arg-type]
    assert copy is not None
    assert (copy.ssrc, copy.payload_type, copy.extensions.mid) == (4242, 111, "7")
    assert copy.sequence_number == first_seq
    follow = leg.rewrite(packet(102, 15000, DELTA), out, False, 0.0)  # type: ignore[arg-type]
    assert follow is not None
    assert follow.sequence_number == (first_seq + 1) & 0xFFFF
    assert (follow.timestamp - copy.timestamp) & 0xFFFFFFFF == 3000


def test_paused_audio_resumes_with_contiguous_sequence_numbers() -> None:
    leg, _slot = make_leg(TrackKind.AUDIO)
    out = FakeOutput()
    a = leg.rewrite(packet(65535, 0), out, False, 0.0)  # type: ignore[arg-type]
    b = leg.rewrite(packet(0, 960), out, False, 0.02)  # type: ignore[arg-type]  # wraps
    assert a is not None and b is not None
    assert b.sequence_number == (a.sequence_number + 1) & 0xFFFF
    leg.pause()  # muted: packets 1..49 are dropped upstream of the leg
    c = leg.rewrite(packet(50, 48000), out, False, 1.0)  # type: ignore[arg-type]
    assert c is not None
    assert c.sequence_number == (b.sequence_number + 1) & 0xFFFF  # no gap to NACK
    assert (c.timestamp - b.timestamp) & 0xFFFFFFFF == 48000 - 960  # time passed
    # A late packet from before the resume would reuse taken numbers: dropped.
    assert leg.rewrite(packet(10, 9600), out, False, 1.0) is None  # type: ignore[arg-type]


def test_reordered_packets_within_a_run_keep_their_place() -> None:
    leg, _slot = make_leg(TrackKind.AUDIO)
    out = FakeOutput()
    first = leg.rewrite(packet(10, 0), out, False, 0.0)  # type: ignore[arg-type]
    third = leg.rewrite(packet(12, 1920), out, False, 0.0)  # type: ignore[arg-type]
    second = leg.rewrite(packet(11, 960), out, False, 0.0)  # type: ignore[arg-type]
    assert first and second and third
    assert [first.sequence_number + 1, first.sequence_number + 2] == [
        second.sequence_number,
        third.sequence_number,
    ]


def test_long_runs_do_not_reject_current_packets() -> None:
    leg, _slot = make_leg(TrackKind.AUDIO)
    out = FakeOutput()
    for seq in range(0, 70000, 7):
        assert leg.rewrite(packet(seq, seq * 960), out, False, 0.0) is not None  # type: ignore[arg-type]


def test_new_leg_on_a_reused_slot_continues_its_lines() -> None:
    leg, slot = make_leg(TrackKind.AUDIO)
    out = FakeOutput()
    last = leg.rewrite(packet(500, 123456), out, False, 10.0)  # type: ignore[arg-type]
    assert last is not None
    successor = ForwardingLeg(FakeTrack(TrackKind.AUDIO, clock_rate=48000), "sub", slot)  # type: ignore[arg-type]
    first = successor.rewrite(packet(9, 777), out, False, 11.0)  # type: ignore[arg-type]
    assert first is not None
    assert first.sequence_number == (last.sequence_number + 1) & 0xFFFF
    assert (first.timestamp - last.timestamp) & 0xFFFFFFFF == 48000 + 1
