"""Connection quality for operators, measured on real aiortc peers with injected loss."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rtp import is_rtcp

from server.monitoring.rating import QualitySource
from server.sfu.connection_quality import ConnectionQuality, TrafficSample, TrafficWindow, up_loss
from signaling.media import TrackKind
from tests.server.sfu.peers import ROOM, ClientPeer, Session, eventually, sees_and_hears


def dtls_transport_of(pc: RTCPeerConnection) -> Any:
    # Both client connections bundle: one DTLS transport carries every track.
    return pc.getTransceivers()[0].receiver.transport


def drop_every_fifth_outgoing_rtp(pc: RTCPeerConnection) -> None:
    """20 % of the RTP a client sends never leaves it (RTCP and retransmissions go too)."""
    transport = dtls_transport_of(pc)
    send: Callable[[bytes], Awaitable[None]] = transport._send_rtp
    sent = 0

    async def lossy_send(data: bytes) -> None:
        nonlocal sent
        if not is_rtcp(data):
            sent += 1
            if sent % 5 == 0:
                return
        await send(data)

    transport._send_rtp = lossy_send


def drop_every_fifth_incoming_rtp(pc: RTCPeerConnection) -> None:
    """20 % of the media packets reaching a client are lost before its receivers see them.

    Retransmissions (RTX) get through: aiortc's client NACKs a gap only when
    a new one appears, so a lost retransmission stalls its video for seconds.
    """
    transport = dtls_transport_of(pc)
    handle: Callable[[bytes, int], Awaitable[None]] = transport._handle_rtp_data
    rtx_payload_types = {
        int(pt) for pt in re.findall(r"a=rtpmap:(\d+) rtx/", pc.remoteDescription.sdp)
    }
    received = 0

    async def lossy_handle(data: bytes, arrival_time_ms: int) -> None:
        nonlocal received
        if data[1] & 0x7F not in rtx_payload_types:
            received += 1
            if received % 5 == 0:
                return
        await handle(data, arrival_time_ms)

    transport._handle_rtp_data = lossy_handle


def quality(session: Session, client: ClientPeer) -> ConnectionQuality:
    figures = session.plane.connection_quality(ROOM, client.participant_id)
    assert figures is not None
    return figures


async def clean_figures(session: Session, a: ClientPeer, b: ClientPeer) -> ConnectionQuality:
    await eventually(lambda: sees_and_hears(b, [a]) and sees_and_hears(a, [b]), 15, "media")

    def reported() -> bool:
        figures = quality(session, a)
        return figures.rtt_ms is not None and figures.loss_down_pct is not None

    # Receiver reports come every 0.5-1.5 s.
    await eventually(reported, 10, "receiver reports about a's subscription", interval=0.2)
    return quality(session, a)


async def test_quality_figures_on_a_clean_connection(session: Session) -> None:
    plane: QualitySource = session.plane
    assert plane.connection_quality(ROOM, "nobody") is None
    a, b = [await session.join(i) for i in range(2)]
    figures = await clean_figures(session, a, b)
    print(figures)
    assert figures.loss_up_pct == 0.0
    assert figures.loss_down_pct is not None and figures.loss_down_pct < 1.0
    assert figures.rtt_ms is not None and 0 <= figures.rtt_ms < 200  # loopback
    assert figures.jitter_ms is not None and figures.jitter_ms < 60
    assert figures.bitrate_up_kbps > 10 and figures.bitrate_down_kbps > 10
    assert figures.candidate_type == "host"
    totals = plane.forwarding_totals()
    assert totals.consumers == 4  # two tracks each way
    assert totals.packets_in > 0 and totals.packets_out > 0  # 1 subscriber: out ~ in
    assert totals.bytes_out > totals.packets_out * 12


async def test_loss_up_rises_when_the_publisher_loses_packets(session: Session) -> None:
    a, b = [await session.join(i) for i in range(2)]
    await clean_figures(session, a, b)
    drop_every_fifth_outgoing_rtp(a.publish_pc)

    def loss_up_seen() -> bool:
        loss = quality(session, a).loss_up_pct
        return loss is not None and 8 < loss < 40

    await eventually(loss_up_seen, 10, "a's loss up near 20 %", interval=0.25)
    print(quality(session, a))
    # Only a's uplink is lossy.
    assert (quality(session, b).loss_up_pct or 0.0) < 2


async def test_loss_down_rises_and_nacks_are_answered(session: Session) -> None:
    a, b = [await session.join(i) for i in range(2)]
    await clean_figures(session, a, b)
    drop_every_fifth_incoming_rtp(a.subscribe_pc)

    def loss_down_seen() -> bool:
        loss = quality(session, a).loss_down_pct
        return loss is not None and 8 < loss < 40

    await eventually(loss_down_seen, 10, "a's loss down near 20 %", interval=0.25)
    print(quality(session, a))
    assert (quality(session, a).loss_up_pct or 0.0) < 2
    # a NACKs the lost video; the server answers from its own history, in RTX.
    subscription = session.plane_subscription(a.participant_id)
    retransmitted = sum(s.output.retransmitted for s in subscription.slots if s.output)
    assert retransmitted > 0
    # The retransmissions repair a's video: it keeps decoding through the loss.
    frames = a.reception(b.participant_id, TrackKind.VIDEO).matching
    await eventually(
        lambda: a.reception(b.participant_id, TrackKind.VIDEO).matching > frames + 5,
        5,
        "a decoding b's video through the loss",
    )


def test_traffic_window_measures_against_the_oldest_sample_in_the_window() -> None:
    window = TrafficWindow(started_at=0.0)
    first = TrafficSample(1.0, 100, 0, {7: (100, 100)})
    assert window.add(first).at == 0.0  # the first sample measures since the start
    assert up_loss(first, TrafficSample(0.0, 0, 0, {})) == 0.0
    window.add(TrafficSample(2.0, 200, 0, {7: (200, 190)}))
    window.add(TrafficSample(2.2, 210, 0, {7: (210, 200)}))  # replaces the 2.0 sample
    late = TrafficSample(7.5, 900, 0, {7: (800, 780), 9: (10, 10)})
    then = window.add(late)
    assert then.at == 2.2  # 1.0 fell out of the 5 s window
    assert up_loss(late, then) == 100.0 * 10 / (590 + 10)
