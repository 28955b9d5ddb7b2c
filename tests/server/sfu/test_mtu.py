"""No datagram the server sends exceeds its MTU budget, whatever a publisher sends (issue 12).

A publisher sends RTP packets up to the 1,500 bytes of SRTP the server
accepts; each is protected by hand with her own session (pylibsrtp refuses
plaintext over 1,356 bytes) and sent on her publish connection. What leaves
the server is measured at the subscriber's socket.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from aiortc.rtp import RtpPacket
from pylibsrtp._binding import ffi, lib

from server.sfu.aiortc_internals import ForwardingOutput
from server.sfu.copy_sender import MAX_COPY, MAX_DATAGRAM, MAX_RTP_PACKET
from signaling.media import TrackKind
from tests.server.sfu.peers import ROOM, ClientPeer, eventually, eventually_async
from tests.server.sfu.peers import Session as MediaSession

# SRTP the server's receive path takes at most (its unprotect buffer).
_MAX_SRTP_RECEIVED = 1500
_MAX_SRTP_TAG = 16


def test_the_budget_fits_a_1500_byte_mtu_with_turn_framing() -> None:
    ipv6_and_udp = 40 + 8
    turn_send_indication = 20 + 24 + 4  # STUN header, XOR-PEER-ADDRESS (IPv6), DATA header
    assert MAX_DATAGRAM == MAX_RTP_PACKET + _MAX_SRTP_TAG == 1372
    assert MAX_DATAGRAM + turn_send_indication + ipv6_and_udp <= 1500
    # aiortc's own send path (pylibsrtp: a 1500-byte buffer less 144 of trailer) takes as much,
    # and a copy resent wrapped in RTX (2 more bytes) too.
    assert MAX_RTP_PACKET == 1500 - 144
    assert MAX_COPY + 2 == MAX_RTP_PACKET


def _protect_by_hand(session: Any, plaintext: bytes) -> bytes:
    """srtp_protect on ``session`` with a buffer large enough for any packet."""
    buffer = ffi.new("char[]", len(plaintext) + 256)
    buffer[0 : len(plaintext)] = plaintext
    length = ffi.new("int *", len(plaintext))
    assert lib.srtp_protect(session._srtp[0], buffer, length) == 0
    data: bytes = ffi.buffer(buffer, length[0])[:]
    return data


def _record_datagrams(client: ClientPeer) -> list[int]:
    """Sizes of the SRTP/SRTCP datagrams reaching ``client``'s subscribe connection."""
    sizes: list[int] = []
    dtls: Any = client.subscribe_pc.getTransceivers()[0].receiver.transport
    for protocol in dtls.transport._connection._protocols:
        original = protocol.datagram_received

        def received(data: bytes, addr: Any, original: Any = original) -> None:
            if 127 < data[0] < 192:
                sizes.append(len(data))
            original(data, addr)

        protocol.datagram_received = received
    return sizes


def _server_track(session: MediaSession, participant_id: str, kind: TrackKind) -> Any:
    participant = session.plane._existing_participant(ROOM, participant_id)
    assert participant is not None
    return next(t for t in participant.tracks.values() if t.kind is kind)


def _output_towards(session: MediaSession, subscriber_id: str, track: Any) -> ForwardingOutput:
    output = track.legs[subscriber_id].slot.output
    assert isinstance(output, ForwardingOutput)
    return output


async def test_nothing_sent_exceeds_the_mtu_and_oversize_copies_are_dropped(
    session: MediaSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    alice = await session.join(0)
    publisher = await session.join(1)
    for kind in (TrackKind.AUDIO, TrackKind.VIDEO):
        await eventually(
            lambda k=kind: alice.reception(publisher.participant_id, k).matching >= 3,
            15,
            f"alice receives the publisher's {kind.value}",
        )
    sizes = _record_datagrams(alice)
    track = _server_track(session, publisher.participant_id, TrackKind.AUDIO)
    output = _output_towards(session, alice.participant_id, track)
    ssrc = track.media_ssrc
    stream = track._bookkeeping._streams[ssrc]
    payload_type = track._payload_type
    largest_fitting = MAX_COPY - output.header_size
    payload_sizes = [
        largest_fitting,  # forwarded: exactly MAX_COPY once rewritten
        largest_fitting + 1,  # one byte too many: dropped
        _MAX_SRTP_RECEIVED - 12 - _MAX_SRTP_TAG,  # the largest the server receives: dropped
    ]
    dtls: Any = publisher.publish_pc.getTransceivers()[0].sender.transport
    first_seq = (stream.max_seq + 1) & 0xFFFF
    for offset, size in enumerate(payload_sizes):
        packet = RtpPacket(
            payload_type=payload_type,
            sequence_number=(first_seq + offset) & 0xFFFF,
            timestamp=0,
            ssrc=ssrc,
            payload=bytes([0xF8]) + bytes(size - 1),
        )
        protected = _protect_by_hand(dtls._tx_srtp, packet.serialize())
        assert len(protected) <= _MAX_SRTP_RECEIVED
        await dtls.transport._send(protected)
    await eventually(
        lambda: session.plane.stats.oversize_dropped >= 2, 5, "both oversize copies dropped"
    )
    await eventually(lambda: max(sizes, default=0) >= MAX_COPY, 5, "the largest copy arrives")
    assert session.plane.stats.oversize_dropped == 2
    assert session.plane.forwarding_totals().oversize_dropped == 2

    # Retransmitting the largest copy raises on neither send path.
    sequence_number = next(
        seq for seq in range(0x10000) if len(output._line.kept(seq) or b"") == MAX_COPY
    )
    received = len(sizes)
    await output._retransmit(sequence_number)
    output._direct = False  # as through a TURN relay: aiortc's own send path (pylibsrtp)
    await output._retransmit(sequence_number)
    await output.send_later(bytes([0x80, payload_type]) + bytes(MAX_RTP_PACKET - 2))
    assert output.retransmitted == 2
    await eventually(lambda: len(sizes) >= received + 3, 5, "the resent packets arrive")
    assert max(sizes) <= MAX_DATAGRAM

    # The publisher's own media still flows, and removing her is bounded.
    before = await alice.packets_received(publisher.participant_id, TrackKind.VIDEO)
    await eventually_async(
        lambda: _more_than(alice, publisher, before + 10), 5, "her video still reaches alice"
    )
    started = time.monotonic()
    await session.plane.remove_participant(ROOM, publisher.participant_id)
    assert time.monotonic() - started < 1.0
    del session.signals.clients[publisher.participant_id]
    await publisher.close()
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()


async def _more_than(client: ClientPeer, publisher: ClientPeer, count: int) -> bool:
    return await client.packets_received(publisher.participant_id, TrackKind.VIDEO) >= count
