"""RTCP in both directions that a peer cannot kill, and a close that cannot hang (issue 12).

A malicious participant here is an aiortc client that joined normally and
then sends crafted packets on her own publish connection, protected with
her own SRTP keys by her DTLS transport's ``_send_rtp``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtpPacket,
)
from pylibsrtp import Policy, Session

from server.sfu import aiortc_internals as internals
from signaling.media import TrackKind
from tests.server.sfu.peers import (
    ROOM,
    ClientPeer,
    client_peer_connection,
    eventually,
    eventually_async,
)
from tests.server.sfu.peers import Session as MediaSession

# An Opus packet's worth of payload: its content does not matter to the server.
_PAYLOAD = bytes(range(80))


def _streams_with(count: int, swinging: bool) -> dict[int, StreamStatistics]:
    """aiortc's receive statistics for ``count`` SSRCs, as its handler builds them.

    ``swinging``: Opus timestamps swinging 0xFFFFFFFF -> 0 and back. Each
    swing adds about 2**32 (plus or minus the arrival gap) to the jitter
    estimate, which then hovers around 2**32 and exceeds it after a downward
    swing that arrived late; that arrival gap is set here rather than waited for.
    """
    streams: dict[int, StreamStatistics] = {}
    for index in range(count):
        stream = StreamStatistics(48000)
        for seq in range(40):
            timestamp = (0 if seq % 2 else 0xFFFFFFFF) if swinging else seq * 960
            stream.add(RtpPacket(payload_type=111, sequence_number=seq, timestamp=timestamp))
        if swinging:
            assert stream.jitter >= 0xE0000000  # converging on 2**32 from below
            stream._jitter_q4 = (0xFFFFFFFF + 48000) << 4  # the swing, with a 1 s late arrival
        streams[0x1000 + index] = stream
    return streams


def _srtcp_session() -> Session:
    policy = Policy(key=bytes(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND)
    return Session(policy)


def test_aiortcs_own_report_dies_on_these_figures() -> None:
    # Why the loop is replaced: what aiortc's _run_rtcp would build cannot be packed or protected.
    streams = _streams_with(1, swinging=True)
    stream = streams[0x1000]
    assert stream.jitter > 0xFFFFFFFF
    block = RtcpReceiverInfo(
        ssrc=0x1000,
        fraction_lost=stream.fraction_lost,
        packets_lost=stream.packets_lost,
        highest_sequence=stream.max_seq or 0,
        jitter=stream.jitter,
        lsr=0,
        dlsr=0,
    )
    with pytest.raises(struct.error):
        bytes(RtcpRrPacket(ssrc=1, reports=[block]))
    many = _streams_with(60, swinging=False)
    blocks = [
        RtcpReceiverInfo(ssrc, 0, 0, s.max_seq or 0, s.jitter, 0, 0) for ssrc, s in many.items()
    ]
    with pytest.raises(Exception):  # noqa: B017 - pylibsrtp's "packet too long" (a ValueError)
        _srtcp_session().protect_rtcp(bytes(RtcpRrPacket(ssrc=1, reports=blocks)))


@pytest.mark.parametrize("count", [1, 31, 57, 256, 300])
def test_receiver_reports_fit_and_saturate(count: int) -> None:
    streams = _streams_with(count, swinging=True)
    negotiated = frozenset({0x1000 + count - 1})  # the last one is negotiated: reported first
    packets = internals.receiver_report_packets(
        rtcp_ssrc=7,
        streams=streams,
        lsr={0x1000: 0x1_2345_6789},  # wider than 32 bits: masked, never raising
        lsr_time={0x1000: time.time() - 1e9},
        negotiated=negotiated,
        now=time.time(),
    )
    session = _srtcp_session()
    reported: list[RtcpReceiverInfo] = []
    for data in packets:
        assert len(session.protect_rtcp(data)) <= 1200
        reported.extend(RtcpRrPacket.parse(data[4:], data[0] & 0x1F).reports)
    assert len(reported) == min(count, 62)
    assert reported[0].ssrc == 0x1000 + count - 1
    assert all(r.jitter == 0xFFFFFFFF for r in reported)


async def _connected_pair(publisher: RTCPeerConnection, server: RTCPeerConnection) -> None:
    publisher.addTransceiver("audio", direction="sendonly")
    await publisher.setLocalDescription(await publisher.createOffer())
    await server.setRemoteDescription(publisher.localDescription)
    await server.setLocalDescription(await server.createAnswer())
    await publisher.setRemoteDescription(server.localDescription)
    await eventually(
        lambda: server.connectionState == "connected" == publisher.connectionState,
        10,
        "the pair connects",
    )


def _opus_payload_type(pc: RTCPeerConnection) -> int:
    transceiver: Any = pc.getTransceivers()[0]
    payload_type: int = transceiver._codecs[0].payloadType
    return payload_type


async def _send_rtp_from(pc: RTCPeerConnection, packets: list[RtpPacket]) -> None:
    """Send crafted RTP on ``pc``'s transport, protected with its own keys."""
    dtls: Any = pc.getTransceivers()[0].sender.transport
    for packet in packets:
        await dtls._send_rtp(packet.serialize())


def _many_ssrcs(payload_type: int, count: int, seed: int) -> list[RtpPacket]:
    rng = random.Random(seed)
    ssrcs = rng.sample(range(1, 1 << 32), count)
    return [
        RtpPacket(
            payload_type=payload_type,
            sequence_number=seq,
            timestamp=seq * 960,
            ssrc=ssrc,
            payload=_PAYLOAD,
        )
        for ssrc in ssrcs
        for seq in range(3)
    ]


async def test_close_within_ends_a_close_aiortcs_dead_report_loop_would_hang() -> None:
    # A real aiortc receiver (its own RTCP loop) fed 60 SSRCs: the loop dies
    # on the oversized report without signalling, and pc.close() would wait forever.
    publisher = client_peer_connection()
    server = RTCPeerConnection()
    try:
        await _connected_pair(publisher, server)
        receiver: Any = server.getTransceivers()[0].receiver
        await _send_rtp_from(publisher, _many_ssrcs(_opus_payload_type(publisher), 60, seed=1))
        await eventually(
            lambda: receiver._RTCRtpReceiver__rtcp_task.done(), 5, "aiortc's RTCP loop dies"
        )
        assert not receiver._RTCRtpReceiver__rtcp_exited.is_set()
        started = time.monotonic()
        forced = await internals.close_within(server, 0.4)
        assert forced
        assert time.monotonic() - started < 0.6
        await eventually(lambda: server.connectionState == "closed", 1, "the close finishes")
        dtls: Any = receiver.transport
        assert all(
            p.transport is None or p.transport.is_closing()
            for p in dtls.transport._connection._protocols
        )
    finally:
        await publisher.close()
        await asyncio.wait_for(server.close(), 1.0)


async def test_server_receiver_reports_survive_swinging_timestamps_and_many_ssrcs(
    session: MediaSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    alice = await session.join(0)
    mallory = await session.join(1)
    await _both_flowing(alice, mallory)
    server_receiver = _server_receiver(session, mallory.participant_id, TrackKind.AUDIO)
    reports_seen = _count_reports_at(mallory)
    payload_type = _opus_payload_type(mallory.publish_pc)
    # Family 1: one SSRC whose timestamps swing 0xFFFFFFFF -> 0 and back.
    swinging = [
        RtpPacket(
            payload_type=payload_type,
            sequence_number=seq,
            timestamp=0xFFFFFFFF if seq % 2 else 0,
            ssrc=0x5EED0001,
            payload=_PAYLOAD,
        )
        for seq in range(64)
    ]
    # Family 2: 300 SSRCs on the negotiated payload type (count byte and size overflow).
    await _send_rtp_from(mallory.publish_pc, swinging + _many_ssrcs(payload_type, 300, seed=2))
    before = reports_seen()
    await eventually(lambda: reports_seen() >= before + 2, 6, "two more receiver-report rounds")
    assert not server_receiver._RTCRtpReceiver__rtcp_task.done()
    assert session.plane.stats.rtcp_send_failed == 0
    # NACKs for thousands of losses far apart (one packet: 12.8 kB, which SRTCP refuses)
    # go out as packets of 128, for the last 512 only.
    nacks_seen = _count_at(mallory, RtcpRtpfbPacket)
    await server_receiver._send_rtcp_nack(0x5EED0001, list(range(0, 64000, 20)))
    await eventually(lambda: nacks_seen() >= 4, 5, "the NACKs arrive")
    assert session.plane.stats.rtcp_send_failed == 0
    # A NACK that cannot even be packed is counted, never raised in the sending task.
    await server_receiver._send_rtcp_nack(0x5EED0001, [1, 0x10000 + 1000])
    assert session.plane.stats.rtcp_send_failed == 1
    await _still_flowing(alice, mallory)
    await _removal_is_bounded(session, mallory)
    _assert_no_traceback(caplog)


async def test_lying_rtcp_is_dropped_and_counted_never_ending_the_transport(
    session: MediaSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    alice = await session.join(0)
    mallory = await session.join(1)
    await _both_flowing(alice, mallory)
    sender: Any = mallory.publish_pc.getTransceivers()[1].sender
    dtls: Any = sender.transport
    # A REMB claiming four SSRCs and carrying one (aiortc's router: struct.error).
    lying_remb = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP,
        ssrc=sender._ssrc,
        media_ssrc=0,
        fci=b"REMB" + bytes([4, 0x04, 0x00, 0x10]) + struct.pack("!L", sender._ssrc),
    )
    # An RR whose count says two blocks and whose length holds one.
    rr = bytes(RtcpRrPacket(ssrc=sender._ssrc, reports=[RtcpReceiverInfo(1, 0, 0, 0, 0, 0, 0)]))
    lying_rr = bytes([rr[0] + 1]) + rr[1:]
    for _ in range(20):
        await dtls._send_rtp(bytes(lying_remb))
        await dtls._send_rtp(lying_rr)
    await eventually(
        lambda: session.plane.stats.rtcp_dropped >= 40, 5, "every lying packet dropped"
    )
    assert session.plane.forwarding_totals().rtcp_dropped == session.plane.stats.rtcp_dropped
    server_pc = session.plane._existing_participant(ROOM, mallory.participant_id)
    assert server_pc is not None and server_pc.publish_pc is not None
    assert server_pc.publish_pc.connectionState == "connected"
    await _still_flowing(alice, mallory)
    await _removal_is_bounded(session, mallory)
    _assert_no_traceback(caplog)


async def test_removal_is_bounded_when_a_server_task_never_signals_its_end(
    session: MediaSession, caplog: pytest.LogCaptureFixture
) -> None:
    # Whatever background task of aiortc still dies silently, removal and
    # close_room return within a second. Here each server receiver's RTCP
    # task has ended and its exit event is one nothing will ever set: the
    # state aiortc's own loop leaves behind when it dies on a report.
    alice = await session.join(0)
    mallory = await session.join(1)
    await _both_flowing(alice, mallory)
    for participant in (alice, mallory):
        receiver: Any = _server_receiver(session, participant.participant_id, TrackKind.VIDEO)
        task = receiver._RTCRtpReceiver__rtcp_task
        task.cancel()
        await asyncio.wait({task})
        receiver._RTCRtpReceiver__rtcp_exited = asyncio.Event()
    caplog.set_level(logging.WARNING)
    await _removal_is_bounded(session, mallory)
    assert session.plane.stats.closes_forced == 1
    assert any("did not close within" in r.getMessage() for r in caplog.records)
    # Named by her pseudonym, never by her id (part of her join link).
    forced = [r.getMessage() for r in caplog.records if "did not close within" in r.getMessage()]
    assert all("peer_" in line and mallory.participant_id not in line for line in forced)
    started = time.monotonic()
    await session.plane.close_room(ROOM)
    assert time.monotonic() - started < 1.0
    assert session.plane.stats.closes_forced == 2


def _server_receiver(session: MediaSession, participant_id: str, kind: TrackKind) -> Any:
    participant = session.plane._existing_participant(ROOM, participant_id)
    assert participant is not None
    track = next(t for t in participant.tracks.values() if t.kind is kind)
    receiver: RTCRtpReceiver = track.receiver
    return receiver


def _count_reports_at(client: ClientPeer) -> Any:
    """How many RRs about her audio the server has sent her so far (a callable)."""
    return _count_at(client, RtcpRrPacket)


def _count_at(client: ClientPeer, kind: type) -> Any:
    """How many RTCP packets of ``kind`` her publish connection has received (a callable)."""
    dtls: Any = client.publish_pc.getTransceivers()[0].sender.transport
    seen = [0]
    original = dtls._handle_rtcp_data

    async def handle(data: bytes) -> None:
        seen[0] += sum(1 for packet in RtcpPacket.parse(data) if isinstance(packet, kind))
        await original(data)

    dtls._handle_rtcp_data = handle
    return lambda: seen[0]


async def _both_flowing(a: ClientPeer, b: ClientPeer) -> None:
    for client, other in ((a, b), (b, a)):
        for kind in (TrackKind.AUDIO, TrackKind.VIDEO):
            await eventually(
                lambda c=client, o=other, k=kind: c.reception(o.participant_id, k).matching >= 3,
                15,
                f"{client.participant_id} receives {other.participant_id}'s {kind.value}",
            )


async def _still_flowing(a: ClientPeer, b: ClientPeer) -> None:
    """The other participant's audio and video keep arriving, in both directions."""
    for client, other in ((a, b), (b, a)):
        for kind in (TrackKind.AUDIO, TrackKind.VIDEO):
            before = await client.packets_received(other.participant_id, kind)
            await eventually_async(
                lambda c=client, o=other, k=kind, n=before: _more(c, o, k, n),
                5,
                f"{other.participant_id}'s {kind.value} still reaches {client.participant_id}",
            )


async def _more(client: ClientPeer, other: ClientPeer, kind: TrackKind, before: int) -> bool:
    return await client.packets_received(other.participant_id, kind) >= before + 10


async def _removal_is_bounded(session: MediaSession, client: ClientPeer) -> None:
    started = time.monotonic()
    await session.plane.remove_participant(ROOM, client.participant_id)
    assert time.monotonic() - started < 1.0
    del session.signals.clients[client.participant_id]
    await client.close()


def _assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage(), record.getMessage()
