"""A leg rewrites each packet onto its slot's lines: runs, keyframes, pauses, reused slots.

The leg sees its track only through ``TrackSource``; these tests give it a
small one, and the slot an output that records what the leg sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.sfu.copy_sender import MAX_COPY, OversizeCopy, PacketCopies
from server.sfu.layers import SINGLE_LAYER, Layer
from server.sfu.legs import DROPS_KEPT, KEYFRAME_WAIT_RETRY_S, ForwardingLeg, SubscriberSlot
from signaling.media import TrackKind
from tests.server.sfu.doubles import ManualClock, RecordingOutput

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
    rids: tuple[str, ...] = (SINGLE_LAYER,)
    layers: list[Layer] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        async def no_pli(layer: Layer) -> None:
            pass

        self.layers = [Layer(rid, i, no_pli, ManualClock(), 0.5) for i, rid in enumerate(self.rids)]

    @property
    def simulcast(self) -> bool:
        return len(self.layers) > 1

    def first_layer(self) -> Layer:
        return self.layers[0]

    def leg_went_live(self, leg: ForwardingLeg) -> None:
        self.live_legs.append(leg)

    def request_keyframe(self, layer: Layer | None = None) -> None:
        self.keyframe_requests += 1
        self.requested.append("all" if layer is None else layer.rid)


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
        copies = KEYFRAME if keyframe else COPIES
        layer = self.track.layers[0]
        size = self.leg.forward(copies, ROOM, seq, timestamp, layer, now, 0, NO_REPORT)
        if not size:
            assert len(self.output.sent) == before
            return None
        sent_seq, sent_ts, _report = self.output.sent[-1]
        return sent_seq, sent_ts


COPIES = PacketCopies(
    marker=False, payload=b"media", padding_size=0, abs_send_time=0, audio_level=None
)
ROOM = MAX_COPY - len(COPIES.payload)  # the header room of a small packet
# A VP8 keyframe's first packet: S=1, PID=0, no extensions; payload header P=0.
KEYFRAME = PacketCopies(
    marker=False,
    payload=b"\x10\x00media",
    padding_size=0,
    abs_send_time=0,
    audio_level=None,
    vp8=True,
)


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
    first = leg.track.first_layer()
    assert leg.forward(COPIES, ROOM, 1, 0, first, 0.0, 0, NO_REPORT) == 0  # no output yet
    audio = rig(TrackKind.AUDIO)
    audio.leg.close()
    assert audio.send(1, 0, 0.0) is None


def test_the_slot_reports_the_publisher_clock_on_its_own_line() -> None:
    audio = rig(TrackKind.AUDIO)
    audio.leg.forward(COPIES, ROOM, 7, 1000, audio.track.layers[0], 0.0, 0, 5000)
    _seq, sent_ts, report_rtp = audio.output.sent[-1]
    # The publisher's RTP clock now (5000) moved by the same offset as the packet's.
    assert (report_rtp - sent_ts) & 0xFFFFFFFF == 4000


def test_a_copy_too_large_for_the_slot_is_not_sent_and_the_run_goes_on() -> None:
    audio = rig(TrackKind.AUDIO)
    first = audio.send(1, 0, 0.0)
    assert first is not None
    header = audio.output.header_size
    with pytest.raises(OversizeCopy):
        audio.leg.forward(COPIES, header - 1, 2, 960, audio.track.layers[0], 0.0, 0, NO_REPORT)
    assert len(audio.output.sent) == 1
    after = audio.send(3, 1920, 0.0)
    assert after is not None
    # The run's offset holds: to the subscriber, packet 2 is one lost packet.
    assert after[0] == (first[0] + 2) & 0xFFFF


def vp8(
    picture_id: int, *, keyframe: bool = False, tid: int = 0, start: bool = True
) -> PacketCopies:
    """A VP8 packet with a 15-bit picture id, TL0PICIDX and TID."""
    descriptor = bytes(
        [0x90 if start else 0x80, 0xE0, 0x80 | (picture_id >> 8), picture_id & 0xFF, 0, tid << 6]
    )
    header = b"\x00\x00\x00" if keyframe else b"\x01\x00\x00"
    return PacketCopies(
        marker=False,
        payload=descriptor + header + b"data",
        padding_size=0,
        abs_send_time=0,
        audio_level=None,
        vp8=True,
    )


def simulcast_rig() -> Rig:
    slot = SubscriberSlot(TrackKind.VIDEO, transceiver=None)  # type: ignore[arg-type]
    output = RecordingOutput()
    slot.output = output  # type: ignore[assignment]
    track = RecordedTrack(TrackKind.VIDEO, rids=("q", "h", "f"))
    leg = ForwardingLeg(track, "sub", slot)
    leg.mark_negotiated()
    return Rig(leg, slot, track, output)


def send_on(
    rig_: Rig, layer: Layer, copies: PacketCopies, seq: int, timestamp: int, now: float
) -> tuple[int, int] | None:
    before = len(rig_.output.sent)
    size = rig_.leg.forward(copies, ROOM, seq, timestamp, layer, now, 0, NO_REPORT)
    if not size:
        assert len(rig_.output.sent) == before
        return None
    sent_seq, sent_ts, _ = rig_.output.sent[-1]
    return sent_seq, sent_ts


def test_a_simulcast_leg_starts_low_and_switches_only_at_the_target_keyframe() -> None:
    video = simulcast_rig()
    q, h, f = video.track.layers
    assert video.leg.target is q  # a new leg starts on the lowest layer
    assert send_on(video, h, vp8(1, keyframe=True), 500, 9000, 0.0) is None  # not its layer
    first = send_on(video, q, vp8(1, keyframe=True), 100, 1000, 0.0)
    assert first is not None and video.leg.current is q
    video.track.requested.clear()
    assert video.leg.set_target(f)
    assert video.track.requested == ["f"]  # a keyframe of the new layer, asked at once
    # Until f's keyframe, q goes on and f's delta frames are not forwarded.
    assert send_on(video, f, vp8(7), 50, 70000, 0.033) is None
    second = send_on(video, q, vp8(2), 101, 4000, 0.033)
    assert second is not None and second[0] == (first[0] + 1) & 0xFFFF
    # f's keyframe: the switch, continuing the sequence line without a gap.
    switched = send_on(video, f, vp8(8, keyframe=True), 51, 73000, 0.066)
    assert switched is not None and video.leg.current is f and video.leg.switches == 1
    assert switched[0] == (second[0] + 1) & 0xFFFF
    assert 0 < (switched[1] - second[1]) & 0xFFFFFFFF < 90000  # time moves on, a little
    assert video.output.continued == 2  # the VP8 fields continue at each run's start
    # The old layer's packets are no longer forwarded; the new layer's are, in line.
    assert send_on(video, q, vp8(3), 102, 7000, 0.07) is None
    after = send_on(video, f, vp8(9), 52, 76000, 0.1)
    assert after is not None and after[0] == (switched[0] + 1) & 0xFFFF
    assert (after[1] - switched[1]) & 0xFFFFFFFF == 3000


def test_a_switch_carries_time_through_the_layers_sender_reports() -> None:
    video = simulcast_rig()
    q, h, _ = video.track.layers
    # Both layers sampled the same instant (NTP 1000 s) at different RTP times.
    ntp = 1000 << 32
    q.sender_report = (ntp, 50_000)
    h.sender_report = (ntp, 7_000_000)
    first = send_on(video, q, vp8(1, keyframe=True), 10, 50_000 + 9000, 0.0)
    assert first is not None
    video.leg.set_target(h)
    # h's keyframe 0.1 s after the first packet's instant: the line moves by exactly that.
    switched = send_on(video, h, vp8(5, keyframe=True), 900, 7_000_000 + 9000 + 9000, 0.1)
    assert switched is not None
    assert (switched[1] - first[1]) & 0xFFFFFFFF == 9000


def test_pausing_stops_at_once_and_resuming_waits_for_a_keyframe() -> None:
    video = simulcast_rig()
    q, h, _ = video.track.layers
    assert send_on(video, q, vp8(1, keyframe=True), 10, 0, 0.0) is not None
    video.leg.set_target(None)
    assert video.leg.current is None
    assert send_on(video, q, vp8(2), 11, 3000, 0.03) is None
    video.leg.set_target(h)
    assert send_on(video, h, vp8(3), 20, 3000, 0.06) is None
    assert send_on(video, h, vp8(4, keyframe=True), 21, 6000, 0.1) is not None


def test_dropping_temporal_layers_leaves_no_sequence_gap() -> None:
    video = simulcast_rig()
    q = video.track.layers[0]
    video.leg.set_target(q, max_temporal=0)
    out = [send_on(video, q, vp8(1, keyframe=True), 10, 0, 0.0)]
    # L1T3: TIDs 2, 1, 2, 0, ... one packet per frame here.
    for i, tid in enumerate([2, 1, 2, 0, 2, 1, 2, 0], start=1):
        out.append(send_on(video, q, vp8(1 + i, tid=tid), 10 + i, 3000 * i, 0.033 * i))
    sent = [copy[0] for copy in out if copy is not None]
    assert len(sent) == 3  # the keyframe and two TL0 frames
    assert sent == [sent[0], (sent[0] + 1) & 0xFFFF, (sent[0] + 2) & 0xFFFF]
    assert video.output.skipped == 6  # each dropped picture gives its id to the next
    assert video.output.picture_ids == [1, 2, 3]
    # A retransmission of a dropped packet is dropped again: its number was given.
    assert send_on(video, q, vp8(3, tid=1), 12, 6000, 0.3) is None
    assert send_on(video, q, vp8(8, tid=2), 17, 21000, 0.3) is None
    # Raising the limit waits for a TL0 frame, then every layer flows again.
    video.leg.set_target(q, max_temporal=None)
    assert send_on(video, q, vp8(10, tid=2), 19, 27000, 0.3) is None
    assert send_on(video, q, vp8(11, tid=0), 20, 30000, 0.33) is not None
    assert send_on(video, q, vp8(12, tid=2), 21, 33000, 0.36) is not None
    # A retransmission of a packet dropped before the raise is still dropped.
    assert send_on(video, q, vp8(8, tid=2), 17, 21000, 0.4) is None
    assert video.output.picture_ids == [1, 2, 3, 4, 5]


def test_a_late_packet_fills_its_gap_after_later_layers_were_dropped() -> None:
    video = simulcast_rig()
    q = video.track.layers[0]
    video.leg.set_target(q, max_temporal=0)
    key = send_on(video, q, vp8(1, keyframe=True), 10, 0, 0.0)
    assert key is not None
    # (sequence number, picture id, TID, first packet of its picture); 15 is lost on
    # the way in: the second packet of TL0 picture 5, followed by three dropped pictures.
    pattern = [(11, 2, 2, True), (12, 3, 1, True), (13, 4, 2, True), (14, 5, 0, True)]
    pattern += [(16, 6, 2, True), (17, 7, 1, True), (18, 8, 2, True), (19, 9, 0, True)]
    for seq, picture_id, tid, start in pattern:
        send_on(video, q, vp8(picture_id, tid=tid, start=start), seq, 3000 * (seq - 10), 0.1)
    # Its retransmission arrives after those drops: it takes the number and the picture
    # id it would have had, between its neighbours, and the subscriber has no gap.
    late = send_on(video, q, vp8(5, tid=0, start=False), 15, 12000, 0.2)
    assert late is not None
    numbers = [copy[0] for copy in video.output.sent]
    first = numbers[0]
    assert numbers == [first, (first + 1) & 0xFFFF, (first + 3) & 0xFFFF, (first + 2) & 0xFFFF]
    assert video.output.picture_ids == [1, 2, 3, 2]  # picture 5 went out as 2, so does this
    # The line goes on from its newest picture, not the late one.
    assert video.output.line.last_picture_id == 3
    after = send_on(video, q, vp8(10, tid=0), 20, 30000, 0.3)
    assert after is not None and after[0] == (first + 4) & 0xFFFF
    assert video.output.picture_ids[-1] == 4
    # A late packet of a dropped layer never seen before cannot be placed: its
    # number stays unused (the numbers after it are given), as in mediasoup.
    assert send_on(video, q, vp8(7, tid=1, start=False), 17, 21000, 0.3) is None


def test_a_late_packet_older_than_the_kept_drops_is_dropped() -> None:
    video = simulcast_rig()
    q = video.track.layers[0]
    video.leg.set_target(q, max_temporal=0)
    key = send_on(video, q, vp8(1, keyframe=True), 0, 0, 0.0)
    assert key is not None
    # 1 (the keyframe's second packet) and 151 (TL0 picture 150's second) are lost;
    # every other packet but 150 and 302 is a TL2 picture of its own, dropped: 298
    # drops, more than the leg keeps.
    for seq in range(2, 302):
        tid = 0 if seq == 150 else 2
        if seq != 151:
            picture_id = seq if seq < 151 else seq - 1
            send_on(video, q, vp8(picture_id, tid=tid), seq, 3000 * seq, 0.01 * seq)
    assert send_on(video, q, vp8(301, tid=0), 302, 3000 * 302, 3.02) is not None
    assert DROPS_KEPT < 298
    # 151 is newer than the oldest kept drop: placed, between 150 and 302.
    placed = send_on(video, q, vp8(150, tid=0, start=False), 151, 3000 * 150, 3.1)
    assert placed is not None
    first = key[0]
    numbers = [copy[0] for copy in video.output.sent]
    assert numbers == [first, (first + 2) & 0xFFFF, (first + 4) & 0xFFFF, (first + 3) & 0xFFFF]
    assert video.output.picture_ids == [1, 2, 3, 2]
    # 1 is older than every drop kept: the drops after it are not all known, so it
    # cannot be placed, and is dropped.
    assert send_on(video, q, vp8(1, keyframe=True, start=False), 1, 0, 3.2) is None


def test_a_run_long_after_its_last_drop_forwards_every_packet() -> None:
    video = simulcast_rig()
    q = video.track.layers[0]
    video.leg.set_target(q, max_temporal=0)
    assert send_on(video, q, vp8(1, keyframe=True), 0, 0, 0.0) is not None
    assert send_on(video, q, vp8(2, tid=2), 1, 3000, 0.0) is None
    video.leg.set_target(q, max_temporal=None)
    # Well past half the sequence space: the drop is forgotten as the run's fence
    # moves, and never taken for a newer packet's.
    for seq in range(2, 0x9000):
        tid = 0 if seq % 4 == 2 else 2
        assert send_on(video, q, vp8(seq & 0x7FFF, tid=tid), seq, 3000 * seq, 0.0) is not None


@dataclass(frozen=True)
class StreamPacket:
    index: int  # input order
    picture: int  # input picture order
    tid: int
    start: bool


def l1t3_stream(packets_per_picture: list[int]) -> list[StreamPacket]:
    """A keyframe, then pictures of TID 2, 1, 2, 0, ... with the given packet counts,
    ending on a TL0 picture so every gap a late packet could fill lies between two
    forwarded packets."""
    counts = [1, *packets_per_picture]
    counts += [1] * (-len(packets_per_picture) % 4)
    stream: list[StreamPacket] = []
    for picture, count in enumerate(counts):
        tid = 0 if picture == 0 else (2, 1, 2, 0)[(picture - 1) % 4]
        for part in range(count):
            stream.append(StreamPacket(len(stream), picture, tid, part == 0))
    return stream


@settings(max_examples=200, deadline=None)
# Two dropped-layer packets lost, and the newer one retransmitted first: the older
# one must not be taken for the newest packet (found by this property).
@example(
    packets_per_picture=[1, 1, 1, 1],
    first_seq=0,
    first_picture_id=0,
    losses={1: 2, 2: 1},
    only_base_layer_lost=False,
)
@given(
    packets_per_picture=st.lists(st.integers(1, 3), min_size=4, max_size=60),
    first_seq=st.integers(0, 0xFFFF),
    first_picture_id=st.integers(0, 0x7FFF),
    losses=st.dictionaries(st.integers(1, 250), st.integers(1, 40), max_size=12),
    only_base_layer_lost=st.booleans(),
)
def test_late_packets_take_the_places_they_would_have_had(
    packets_per_picture: list[int],
    first_seq: int,
    first_picture_id: int,
    losses: dict[int, int],
    only_base_layer_lost: bool,
) -> None:
    """Capped to TL0, with packets lost on the way in and retransmitted later: every TL0
    packet is forwarded once, in its place; only a dropped layer's packet that came back
    after a newer one leaves its number unused (and, for a picture's first packet, its
    picture id), as mediasoup's SeqManager does."""
    stream = l1t3_stream(packets_per_picture)
    lost = {
        index: delay
        for index, delay in losses.items()
        if index < len(stream) and (stream[index].tid == 0 or not only_base_layer_lost)
    }
    # Each lost packet arrives after `delay` more of the stream.
    arrival = sorted(
        stream, key=lambda p: p.index + lost[p.index] + 0.5 if p.index in lost else p.index
    )
    video = simulcast_rig()
    q = video.track.layers[0]
    video.leg.set_target(q, max_temporal=0)
    forwarded: list[tuple[StreamPacket, int, int]] = []  # with the number and picture id sent
    unused_numbers = unused_ids = 0
    newest = -1
    for packet in arrival:
        seq = (first_seq + packet.index) & 0xFFFF
        picture_id = (first_picture_id + packet.picture) & 0x7FFF
        copies = vp8(picture_id, keyframe=packet.picture == 0, tid=packet.tid, start=packet.start)
        sent = send_on(video, q, copies, seq, 3000 * packet.picture, 0.01 * packet.index)
        if packet.tid == 0:
            assert sent is not None, packet
            written = video.output.picture_ids[-1]
            assert written is not None
            forwarded.append((packet, sent[0], written))
        else:
            assert sent is None, packet
            if packet.index < newest:  # came back after a newer one: its places are given
                unused_numbers += 1
                unused_ids += packet.start
        newest = max(newest, packet.index)
    forwarded.sort(key=lambda f: f[0].index)
    first_number, first_id = forwarded[0][1], forwarded[0][2]
    numbers = [(number - first_number) & 0xFFFF for _, number, _ in forwarded]
    ids = [(written - first_id) & 0x7FFF for _, _, written in forwarded]
    # In input order, with no number twice and no gap but the unused ones.
    assert numbers == sorted(set(numbers))
    assert numbers[-1] + 1 - len(numbers) == unused_numbers
    # Each picture one id, the pictures' ids in order, no gap but the unused ones.
    pictures = sorted(
        {(p.picture, written) for (p, _, _), written in zip(forwarded, ids, strict=True)}
    )
    assert len({picture for picture, _ in pictures}) == len(pictures)
    assert [written for _, written in pictures] == sorted({written for _, written in pictures})
    assert ids[-1] + 1 - len(pictures) == unused_ids
    if only_base_layer_lost:
        assert unused_numbers == unused_ids == 0
