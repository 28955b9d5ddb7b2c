"""The receive path's rules: sequence validation, budgets, rate-limited logging."""

from __future__ import annotations

from server.monitoring.alerts import AlertKind, AlertRules, ConnectionObservation, Observation
from server.sfu.ingress import (
    MAX_SEQUENCE_DROPOUT,
    SEEN_WINDOW,
    DropCounts,
    DropReason,
    PublishBudget,
    RateLimitedLog,
    SequenceCheck,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_lone_packet_far_ahead_is_dropped_and_the_stream_goes_on() -> None:
    check = SequenceCheck()
    assert check.check(100) is True
    assert check.check(100 + 32000) is False
    # The honest stream continues as if nothing happened.
    assert check.check(101) is True
    assert check.check(102) is True


def test_two_packets_in_sequence_after_a_jump_confirm_a_restart() -> None:
    check = SequenceCheck()
    check.check(5)
    assert check.check(40000) is False
    assert check.check(40001) == SequenceCheck.RESTARTED
    assert check.check(40002) is True


def test_late_packets_within_the_window_are_accepted_and_wrap_is_handled() -> None:
    check = SequenceCheck()
    check.check(65530)
    assert check.check(3) is True  # wrapped, 9 ahead
    assert check.check(65100) is True  # 439 behind: late or retransmitted
    assert check.near(3 + MAX_SEQUENCE_DROPOUT - 1)
    assert not check.near(3 + MAX_SEQUENCE_DROPOUT + 10)


def test_budget_refuses_beyond_its_ceiling_and_reports_once_per_window() -> None:
    clock = FakeClock()
    reported: list[float] = []
    budget = PublishBudget(
        clock, lambda: reported.append(clock.now), packets_per_s=10, bytes_per_s=10_000
    )
    assert all(budget.admit(100) for _ in range(10))
    assert not budget.admit(100)
    assert not budget.admit(100)
    assert reported == [0.0]
    clock.now = 1.0
    assert budget.admit(100)
    assert budget.exceeded_within(5.0)
    clock.now = 10.0
    assert not budget.exceeded_within(5.0)
    assert not budget.admit(20_000)  # bytes count too
    assert reported == [0.0, 10.0]


def test_rate_limited_log_says_how_many_it_held_back() -> None:
    clock = FakeClock()
    log = RateLimitedLog(clock, interval_s=60.0)
    assert log.ready()
    assert not log.ready() and not log.ready()
    clock.now = 61.0
    assert log.ready()
    assert log.take_suppressed() == 2


def test_drop_counts() -> None:
    drops = DropCounts()
    drops.drop(DropReason.OVERSIZE)
    drops.drop(DropReason.OVERSIZE)
    assert drops.counts[DropReason.OVERSIZE] == 2 and drops.total() == 2


def test_over_budget_raises_an_alert_at_once_with_the_pseudonymous_id() -> None:
    rules = AlertRules()
    link = ConnectionObservation("room_x", "peer_y", None, None, over_budget=True)
    alerts = rules.evaluate(Observation((), (link,), 0.1, 0.0), now=5.0)
    assert [(a.kind, a.participant_ref) for a in alerts] == [
        (AlertKind.MEDIA_BUDGET_EXCEEDED, "peer_y")
    ]
    calm = ConnectionObservation("room_x", "peer_y", None, None)
    assert rules.evaluate(Observation((), (calm,), 0.1, 0.0), now=6.0) == []


async def test_guard_drops_what_no_transport_should_see() -> None:
    import struct

    from aiortc import RTCPeerConnection
    from aiortc.rtcrtpparameters import (
        RTCRtpDecodingParameters,
        RTCRtpReceiveParameters,
        RTCRtpRtxParameters,
    )

    from server.sfu import aiortc_internals as internals

    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="recvonly")
    receiver = transceiver.receiver
    guard = internals.DatagramGuard(receiver.transport)
    drops = DropCounts()
    guard.configure(drops, None, None)
    negotiated = RTCRtpReceiveParameters(
        codecs=[],
        encodings=[
            RTCRtpDecodingParameters(ssrc=1, payloadType=96, rtx=RTCRtpRtxParameters(ssrc=2))
        ],
    )
    guard.allow(receiver, negotiated)
    guard.allow(receiver, negotiated)  # renegotiated: nothing more
    assert guard.accepted_ssrcs() == 2
    passed: list[bytes] = []

    def original(data: bytes, addr: tuple[str, int]) -> None:
        passed.append(data)

    source = ("192.0.2.9", 4000)

    def rtp(ssrc: int) -> bytes:
        return struct.pack("!BBHLL", 0x80, 96, 1, 0, ssrc) + bytes(20)

    for data in (
        bytes(1501),  # oversize
        b"\x00\x01" + bytes(30),  # STUN: aioice's
        b"\x16\xfe\xfd" + bytes(30),  # DTLS: aiortc's
        b"\x81\xc9" + bytes(30),  # SRTCP: aiortc's
        b"\x50" + bytes(30),  # none of them
        b"\x80\x60" + bytes(5),  # too short for SRTP
        rtp(99),  # not negotiated: never reaches libsrtp
        rtp(1),  # negotiated, but no keys yet
    ):
        guard.datagram_received(data, source, original)
    assert [d[:1] for d in passed] == [b"\x00", b"\x16", b"\x81"]
    assert {r.value: n for r, n in drops.counts.items() if n} == {
        "oversize": 1,
        "not_media": 2,
        "unknown_ssrc": 1,
        "unprotect": 1,
    }
    await pc.close()


async def test_guard_grants_unsignalled_ssrcs_once_per_receiver() -> None:
    from aiortc import RTCPeerConnection
    from aiortc.rtcrtpparameters import RTCRtpReceiveParameters

    from server.sfu import aiortc_internals as internals
    from server.sfu.ingress import UNSIGNALLED_SSRCS_PER_TRACK

    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("video", direction="recvonly").receiver
    guard = internals.DatagramGuard(receiver.transport)
    for _ in range(5):  # a publisher renegotiating over and over
        guard.allow(receiver, RTCRtpReceiveParameters(codecs=[]))
    assert guard.unsignalled_allowance() == UNSIGNALLED_SSRCS_PER_TRACK
    await pc.close()


def test_a_packet_already_received_is_recognised_as_a_duplicate() -> None:
    """Chrome probes its uplink by resending old packets on RTX (payload padding): the
    stream's SequenceCheck says which numbers it already had, so they are not
    forwarded twice; a retransmission that fills a gap is new."""
    check = SequenceCheck()
    for seq in (65530, 65531, 65533, 1, 2):  # 65532, 0 missing: across the wrap
        assert check.first_time(seq)
    assert not check.first_time(65531)
    assert not check.first_time(2)
    assert check.first_time(65532)  # the NACKed retransmission fills the gap
    assert not check.first_time(65532)  # and is not forwarded again
    assert check.first_time(0)
    # Far enough back, a number is new again (the window is bounded).
    for seq in range(3, 3 + SEEN_WINDOW):
        check.first_time(seq)
    assert check.first_time(2)
