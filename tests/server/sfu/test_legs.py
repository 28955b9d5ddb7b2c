"""A leg rewrites each packet onto its slot's lines: runs, keyframes, pauses, reused slots.

The leg sees its track only through ``TrackSource``; these tests give it a
small one, and the slot an output that records what the leg sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from server.sfu.copy_sender import MAX_COPY, OversizeCopy, PacketCopies
from server.sfu.legs import KEYFRAME_WAIT_RETRY_S, ForwardingLeg, SubscriberSlot
from signaling.media import TrackKind
from tests.server.sfu.doubles import RecordingOutput

NO_REPORT = None


@dataclass
class RecordedTrack:
    """A TrackSource that records what its legs ask of it."""

    kind: TrackKind
    participant_id: str = "pub"
    clock_rate: int = 90000
    screen: bool = False
    live_legs: list[ForwardingLeg] = field(default_factory=list)
    keyframe_requests: int = 0

    def leg_went_live(self, leg: ForwardingLeg) -> None:
        self.live_legs.append(leg)

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1


@dataclass
class Rig:
    leg: ForwardingLeg
    slot: SubscriberSlot
    track: RecordedTrack
    output: RecordingOutput

    def send(
        self, seq: int, timestamp: int, now: float, keyframe: bool = False
    ) -> tuple[int, int] | None:
        """Forward one packet; where it went on the slot (sequence, timestamp), or None."""
        before = len(self.output.sent)
        size = self.leg.forward(COPIES, ROOM, seq, timestamp, keyframe, now, 0, NO_REPORT)
        if not size:
            assert len(self.output.sent) == before
            return None
        sent_seq, sent_ts, _report = self.output.sent[-1]
        return sent_seq, sent_ts


COPIES = PacketCopies(
    marker=False, payload=b"media", padding_size=0, abs_send_time=0, audio_level=None
)
ROOM = MAX_COPY - len(COPIES.payload)  # the header room of a small packet


def rig(kind: TrackKind, slot: SubscriberSlot | None = None, clock_rate: int = 90000) -> Rig:
    slot = slot or SubscriberSlot(kind, transceiver=None)  # type: ignore[arg-type]
    output = RecordingOutput()
    slot.output = output  # type: ignore[assignment]
    track = RecordedTrack(kind, clock_rate=clock_rate)
    leg = ForwardingLeg(track, "sub", slot)
    leg.mark_negotiated()
    return Rig(leg, slot, track, output)


def test_video_leg_starts_on_a_keyframe_and_moves_the_lines() -> None:
    video = rig(TrackKind.VIDEO)
    first_seq = video.slot.next_sequence_number
    assert video.send(100, 9000, 0.0) is None  # a delta frame: wait for a keyframe
    copy = video.send(101, 12000, 0.0, keyframe=True)
    assert copy is not None
    assert copy[0] == first_seq
    follow = video.send(102, 15000, 0.0)
    assert follow is not None
    assert follow[0] == (first_seq + 1) & 0xFFFF
    assert (follow[1] - copy[1]) & 0xFFFFFFFF == 3000


def test_a_video_leg_waiting_too_long_asks_its_track_again() -> None:
    video = rig(TrackKind.VIDEO)
    assert video.track.live_legs == [video.leg]  # going live asked for the first keyframe
    video.send(1, 0, 0.0)
    video.send(2, 0, KEYFRAME_WAIT_RETRY_S / 2)
    assert video.track.keyframe_requests == 0
    video.send(3, 0, KEYFRAME_WAIT_RETRY_S)
    assert video.track.keyframe_requests == 1
    video.send(4, 0, KEYFRAME_WAIT_RETRY_S * 1.5)
    assert video.track.keyframe_requests == 1  # once per wait, not per packet


def test_paused_audio_resumes_with_contiguous_sequence_numbers() -> None:
    audio = rig(TrackKind.AUDIO)
    a = audio.send(65535, 0, 0.0)
    b = audio.send(0, 960, 0.02)  # wraps
    assert a is not None and b is not None
    assert b[0] == (a[0] + 1) & 0xFFFF
    audio.leg.pause()  # muted: packets 1..49 are dropped upstream of the leg
    c = audio.send(50, 48000, 1.0)
    assert c is not None
    assert c[0] == (b[0] + 1) & 0xFFFF  # no gap to NACK
    assert (c[1] - b[1]) & 0xFFFFFFFF == 48000 - 960  # time passed
    # A late packet from before the resume would reuse taken numbers: dropped.
    assert audio.send(10, 9600, 1.0) is None


def test_reordered_packets_within_a_run_keep_their_place() -> None:
    audio = rig(TrackKind.AUDIO)
    first = audio.send(10, 0, 0.0)
    third = audio.send(12, 1920, 0.0)
    second = audio.send(11, 960, 0.0)
    assert first and second and third
    assert [first[0] + 1, first[0] + 2] == [second[0], third[0]]


def test_long_runs_do_not_reject_current_packets() -> None:
    audio = rig(TrackKind.AUDIO)
    for seq in range(0, 70000, 7):
        assert audio.send(seq & 0xFFFF, seq * 960, 0.0) is not None


def test_new_leg_on_a_reused_slot_continues_its_lines() -> None:
    first_leg = rig(TrackKind.AUDIO)
    last = first_leg.send(500, 123456, 10.0)
    assert last is not None
    successor = rig(TrackKind.AUDIO, slot=first_leg.slot, clock_rate=48000)
    first = successor.send(9, 777, 11.0)
    assert first is not None
    assert first[0] == (last[0] + 1) & 0xFFFF
    assert (first[1] - last[1]) & 0xFFFFFFFF == 48000 + 1


def test_a_leg_that_is_not_live_sends_nothing() -> None:
    slot = SubscriberSlot(TrackKind.AUDIO, transceiver=None)  # type: ignore[arg-type]
    leg = ForwardingLeg(RecordedTrack(TrackKind.AUDIO), "sub", slot)
    assert leg.forward(COPIES, ROOM, 1, 0, False, 0.0, 0, NO_REPORT) == 0  # no output yet
    audio = rig(TrackKind.AUDIO)
    audio.leg.close()
    assert audio.send(1, 0, 0.0) is None


def test_the_slot_reports_the_publisher_clock_on_its_own_line() -> None:
    audio = rig(TrackKind.AUDIO)
    audio.leg.forward(COPIES, ROOM, 7, 1000, False, 0.0, 0, 5000)
    _seq, sent_ts, report_rtp = audio.output.sent[-1]
    # The publisher's RTP clock now (5000) moved by the same offset as the packet's.
    assert (report_rtp - sent_ts) & 0xFFFFFFFF == 4000


def test_a_copy_too_large_for_the_slot_is_not_sent_and_the_run_goes_on() -> None:
    audio = rig(TrackKind.AUDIO)
    first = audio.send(1, 0, 0.0)
    assert first is not None
    header = audio.output.header_size
    with pytest.raises(OversizeCopy):
        audio.leg.forward(COPIES, header - 1, 2, 960, False, 0.0, 0, NO_REPORT)
    assert len(audio.output.sent) == 1
    after = audio.send(3, 1920, 0.0)
    assert after is not None
    # The run's offset holds: to the subscriber, packet 2 is one lost packet.
    assert after[0] == (first[0] + 2) & 0xFFFF
