"""Transport-wide congestion control on subscribe connections (issue 17): the offer's
lines, the answer's consent, the feedback's parsing, the copy sender's numbering and
send log, and the downlink budget the feedback implies (no I/O; a fake clock)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.sfu.copy_sender import CopySender, PacketCopies, TransportSequence
from server.sfu.downlink import (
    CAPACITY_GROWTH_PER_S,
    DRAIN_SHARE,
    HOLD_S,
    PACKET_OVERHEAD_BYTES,
    DeliveredPacket,
    DownlinkEstimate,
)
from server.sfu.subscription import MAX_FEEDBACKS_PER_S, FeedbackAllowance
from server.sfu.transport_cc import (
    MAX_STATUS_COUNT,
    OFFERED_EXTENSION_ID,
    TRANSPORT_CC_URI,
    MalformedFeedback,
    answered_transport_cc,
    offer_transport_cc,
    parse_transport_feedback,
    transport_feedback_payloads,
)

_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=rtpmap:111 opus/48000/2",
        "m=video 9 UDP/TLS/RTP/SAVPF 97 98",
        "a=mid:1",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=rtpmap:97 VP8/90000",
        "a=rtcp-fb:97 nack",
        "a=rtpmap:98 rtx/90000",
        "a=fmtp:98 apt=97",
        "",
    ]
)


def build_feedback(base: int, arrivals_us: list[int | None], *, count: int = 0) -> bytes:
    """A transport-wide feedback's FCI as a browser writes it (run-length chunks for runs,
    two-bit status vectors otherwise); arrivals are multiples of 250 us."""
    symbols: list[int] = []
    deltas = b""
    received = [a for a in arrivals_us if a is not None]
    reference = (received[0] // 64_000) if received else 0
    at = reference * 64_000
    for arrival in arrivals_us:
        if arrival is None:
            symbols.append(0)
            continue
        delta = (arrival - at) // 250
        at += delta * 250
        if 0 <= delta <= 255:
            symbols.append(1)
            deltas += bytes([delta])
        else:
            symbols.append(2)
            deltas += struct.pack("!h", delta)
    chunks = b""
    index = 0
    while index < len(symbols):
        run = 1
        while index + run < len(symbols) and symbols[index + run] == symbols[index]:
            run += 1
        if run >= 7:
            chunks += struct.pack("!H", (symbols[index] << 13) | run)
            index += run
            continue
        group = symbols[index : index + 7]
        value = 0xC000
        for position, symbol in enumerate(group):
            value |= symbol << (12 - 2 * position)
        chunks += struct.pack("!H", value)
        index += 7
    fci = (
        struct.pack("!HH", base, len(arrivals_us))
        + (reference & 0xFFFFFF).to_bytes(3, "big")
        + bytes([count])
        + chunks
        + deltas
    )
    return fci + b"\0" * (-len(fci) % 4)


def rtcp(packet_type: int, fmt: int, body: bytes) -> bytes:
    return bytes([0x80 | fmt, packet_type]) + struct.pack("!H", len(body) // 4) + body


# -- SDP -------------------------------------------------------------------------------


def test_the_offer_asks_for_transport_wide_feedback_on_every_codec_but_rtx() -> None:
    offer = offer_transport_cc(_OFFER)
    lines = offer.split("\r\n")
    assert lines.count(f"a=extmap:{OFFERED_EXTENSION_ID} {TRANSPORT_CC_URI}") == 2
    assert "a=rtcp-fb:111 transport-cc" in lines
    assert "a=rtcp-fb:97 transport-cc" in lines
    assert "a=rtcp-fb:98 transport-cc" not in lines
    # Nothing else changed, and a second pass adds nothing.
    assert [
        line for line in lines if "transport-cc" not in line and TRANSPORT_CC_URI not in line
    ] == (_OFFER.split("\r\n"))
    assert offer_transport_cc(offer) == offer


def test_the_answer_consents_only_with_the_extension_and_its_feedback() -> None:
    answer = offer_transport_cc(_OFFER).replace(f"a=extmap:{OFFERED_EXTENSION_ID} ", "a=extmap:7 ")
    assert answered_transport_cc(answer) == 7
    without_feedback = "\r\n".join(
        line for line in answer.split("\r\n") if not line.endswith(" transport-cc")
    )
    assert answered_transport_cc(without_feedback) is None
    assert answered_transport_cc(_OFFER) is None


# -- feedback ----------------------------------------------------------------------------


def test_a_feedback_with_losses_runs_and_large_deltas_parses_to_its_arrivals() -> None:
    arrivals: list[int | None] = [1_000_000, 1_000_250, None, None, 1_020_000]
    arrivals += [None] * 9 + [1_090_000, 1_030_000]  # a run, then one arrived out of order
    feedback = parse_transport_feedback(build_feedback(65530, arrivals, count=9))
    assert feedback.base_sequence == 65530
    assert feedback.feedback_count == 9
    assert list(feedback.arrivals) == arrivals


@given(
    st.integers(0, 0xFFFF),
    # A delta is 16 bits of 250 us: a browser starts a new feedback before one overflows.
    st.lists(st.one_of(st.none(), st.integers(0, 24_000)), min_size=1, max_size=300),
)
def test_any_feedback_a_browser_could_write_parses_back(base: int, steps: list[int | None]) -> None:
    arrivals: list[int | None] = []
    at = 5_000_000
    for step in steps:
        if step is None:
            arrivals.append(None)
        else:
            at += step * 250 - 2_000_000 * (step % 7 == 3)  # some arrive "earlier"
            arrivals.append(at)
    if all(a is None for a in arrivals):
        arrivals[0] = at
    feedback = parse_transport_feedback(build_feedback(base, arrivals))
    assert list(feedback.arrivals) == arrivals


@pytest.mark.parametrize(
    ("fci", "why"),
    [
        (b"\0\1\0\1\0\0", "at least 8 bytes"),
        (b"\0\1\0\0\0\0\0\0", "about 0 packets"),
        # A count no browser writes, which would cost a step per "packet".
        (b"\0\1\xff\xff\0\0\0\0" + b"\x1f\xff" * 9, "about 65535 packets"),
        (b"\0\1\0\x0a\0\0\0\0\xc0\0", "chunks end early"),
        (b"\0\1\0\1\0\0\0\0\x20\x01", "deltas end early"),
        (b"\0\1\0\1\0\0\0\0\x60\x01\0\0", "reserved"),
        (b"\0\1\0\1\0\0\0\0\x00\x00", "a run of no packets"),
        (b"\0\1\0\1\0\0\0\0\x20\x01\x05" + b"\0" * 8, "left over"),
    ],
)
def test_a_feedback_that_does_not_add_up_is_refused(fci: bytes, why: str) -> None:
    with pytest.raises(MalformedFeedback, match=why):
        parse_transport_feedback(fci)


def test_feedback_is_found_in_a_compound_packet_and_a_lying_compound_yields_none() -> None:
    fci = build_feedback(7, [1_000_000, None, 1_000_500])
    receiver_report = rtcp(201, 0, struct.pack("!I", 1))
    feedback = rtcp(205, 15, struct.pack("!II", 1, 2) + fci)
    nack = rtcp(205, 1, struct.pack("!IIHH", 1, 2, 5, 0))
    assert transport_feedback_payloads(receiver_report + feedback + nack) == [fci]
    assert transport_feedback_payloads(receiver_report + feedback[:-4]) == []
    assert transport_feedback_payloads(b"\0" * 8) == []


# -- the copy sender's numbering ---------------------------------------------------------


def _sender(ssrc: int) -> CopySender:
    return CopySender(
        ssrc=ssrc, payload_type=97, mid_element=b"", abs_send_time_id=3, audio_level_id=0
    )


def _copies() -> PacketCopies:
    return PacketCopies(
        marker=False, payload=b"\x10" * 100, padding_size=0, abs_send_time=0, audio_level=None
    )


def test_every_copy_of_a_connection_is_numbered_once_and_logged() -> None:
    sequence = TransportSequence()
    audio, video = _sender(1), _sender(2)
    before = video.header_size
    audio.use_transport_sequence(sequence, 5, False)
    video.use_transport_sequence(sequence, 5, True)
    assert video.header_size == before + 4
    started = TransportSequence.now_us()
    written = [video.write(_copies(), 10, 0), audio.write(_copies(), 20, 0)]
    written.append(video.write(_copies(), 11, 0))
    numbers = []
    for packet in written:
        assert packet[12:14] == b"\xbe\xde"
        elements = packet[16 : 16 + 4 * packet[15]]
        at = elements.index(bytes([(5 << 4) | 1]))
        numbers.append(int.from_bytes(elements[at + 1 : at + 3], "big"))
    assert numbers == [0, 1, 2]
    assert sequence.numbered == 3
    for number, packet, is_video in zip(numbers, written, (True, False, True), strict=True):
        logged = sequence.sent(number)
        assert logged is not None
        sent_at, size, video_flag = logged
        assert started <= sent_at <= TransportSequence.now_us()
        assert (size, video_flag) == (len(packet), is_video)
    assert sequence.sent(3) is None
    with pytest.raises(ValueError):
        sequence.sent(70_000)
    with pytest.raises(ValueError):
        video.use_transport_sequence(sequence, 15, True)


# -- the budget it implies ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def feed(
    estimate: DownlinkEstimate,
    clock: Clock,
    *,
    seconds: float,
    video_bps: float,
    audio_bps: float,
    queue_s: float = 0.0,
    queue_growth: float = 0.0,
) -> None:
    """Feedback every 100 ms of 1,000-byte packets at the given rates, each arriving
    after 20 ms of path and ``queue_s`` (growing by ``queue_growth`` a second) of queue."""
    packet_bits = (1_000 + PACKET_OVERHEAD_BYTES) * 8
    steps = round(seconds / 0.1)
    for _ in range(steps):
        packets = []
        for rate, video in ((video_bps, True), (audio_bps, False)):
            count = round(rate * 0.1 / packet_bits)
            for i in range(count):
                sent = clock.now + 0.1 * i / max(count, 1)
                packets.append(DeliveredPacket(sent, 1_000, video, sent + 0.020 + queue_s))
        clock.now += 0.1
        queue_s += queue_growth * 0.1
        estimate.queue.add(packets)


def test_a_clear_link_is_stepped_up_and_a_standing_queue_caps_it_leaving_audio_its_share() -> None:
    clock = Clock()
    estimate = DownlinkEstimate(clock)
    feed(estimate, clock, seconds=2, video_bps=600_000, audio_bps=400_000)
    assert estimate.budget(600_000, None) is None
    assert estimate.probing
    # The link fills: a queue that stands (and grows) over the window.
    feed(estimate, clock, seconds=1, video_bps=900_000, audio_bps=400_000, queue_s=0.03,
         queue_growth=0.05)  # fmt: skip
    cap = estimate.budget(900_000, None)
    assert cap is not None and not estimate.probing and not estimate.loss_only
    delivered = estimate.queue.delivered_bps()
    assert cap == pytest.approx(DRAIN_SHARE * delivered[0] - (delivered[0] - delivered[1]))
    assert cap < 900_000
    # The queue drains; the cap holds for the hold time, then steps resume, bounded by
    # what the full link carried (growing 8 % a second while the queue stays clear).
    feed(estimate, clock, seconds=HOLD_S + 0.5, video_bps=cap, audio_bps=400_000)
    bound = estimate.budget(cap, None)
    assert estimate.probing and bound is not None
    feed(estimate, clock, seconds=2, video_bps=cap, audio_bps=400_000)
    grown = estimate.budget(cap, None)
    assert grown is not None and grown > bound
    # The capacity grew about 3 % a second; the bound (what audio leaves of it) a little more.
    assert grown < bound * CAPACITY_GROWTH_PER_S**6
    assert estimate.estimate_bps() is not None


def test_a_keyframe_burst_is_not_a_full_link() -> None:
    clock = Clock()
    estimate = DownlinkEstimate(clock)
    feed(estimate, clock, seconds=2, video_bps=600_000, audio_bps=400_000)
    # 60 ms of queue for one feedback's packets, then none: the least over the window is 0.
    feed(estimate, clock, seconds=0.1, video_bps=600_000, audio_bps=400_000, queue_s=0.06)
    feed(estimate, clock, seconds=0.1, video_bps=600_000, audio_bps=400_000)
    assert estimate.budget(600_000, None) is None
    assert estimate.probing


def test_feedback_reporting_losses_lowers_video_without_calling_the_link_full() -> None:
    clock = Clock()
    estimate = DownlinkEstimate(clock)
    feed(estimate, clock, seconds=1, video_bps=600_000, audio_bps=400_000)
    lost = [DeliveredPacket(clock.now, 1_000, True, None) for _ in range(40)]
    estimate.queue.add(lost)
    cap = estimate.budget(600_000, None)
    assert cap is not None and estimate.loss_only


def test_without_fresh_feedback_rembs_decide_again() -> None:
    clock = Clock()
    estimate = DownlinkEstimate(clock)
    feed(estimate, clock, seconds=1, video_bps=600_000, audio_bps=400_000)
    assert estimate.queue.fresh()
    clock.now += 10
    assert not estimate.queue.fresh()
    estimate.remb(200_000)
    assert estimate.estimate_bps() == 200_000


def test_the_largest_feedback_a_browser_writes_is_parsed_and_a_larger_one_refused() -> None:
    arrivals: list[int | None] = [1_000_000 + 250 * i for i in range(MAX_STATUS_COUNT)]
    assert len(parse_transport_feedback(build_feedback(0, arrivals)).arrivals) == MAX_STATUS_COUNT
    with pytest.raises(MalformedFeedback):
        parse_transport_feedback(build_feedback(0, [*arrivals, 2_000_000]))


def test_feedbacks_beyond_what_a_browser_sends_in_a_second_are_not_parsed() -> None:
    clock = Clock()
    allowance = FeedbackAllowance(clock)
    assert all(allowance.take() for _ in range(MAX_FEEDBACKS_PER_S))
    assert not allowance.take()
    clock.now += 1.0
    assert allowance.take()
