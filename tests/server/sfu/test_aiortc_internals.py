"""Fail loudly if the aiortc internals server/sfu/aiortc_internals/ relies on move.

Each test names the attribute or behaviour at stake, so an aiortc upgrade
that breaks one says exactly what to re-check.
"""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any

import aioice.ice
import aiortc
import aiortc.clock
import aiortc.rtcicetransport
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket

from server.sfu import aiortc_internals as internals
from server.sfu.aiortc_internals import ice
from server.sfu.copy_sender import HISTORY_SIZE, DatagramRoute, ExtensionIds, PacketCopies
from server.sfu.rates import WindowRate
from tests.server.sfu.peers import eventually


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == "1.16.0", "re-check server/sfu/aiortc_internals/ before upgrading"


def test_receiver_handlers_have_the_signatures_the_router_calls() -> None:
    assert list(inspect.signature(RTCRtpReceiver._handle_rtp_packet).parameters) == [
        "self",
        "packet",
        "arrival_time_ms",
    ]
    assert list(inspect.signature(RTCRtpReceiver._handle_rtcp_packet).parameters) == [
        "self",
        "packet",
    ]
    assert list(inspect.signature(RTCRtpReceiver._send_rtcp_pli).parameters) == [
        "self",
        "media_ssrc",
    ]


def test_transport_routes_to_handlers_looked_up_on_the_instance() -> None:
    # Interception by instance attribute only works while the transport calls
    # ``receiver._handle_rtp_packet(...)`` rather than a bound class method.
    source = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    assert "receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in source
    source = inspect.getsource(RTCDtlsTransport._handle_rtcp_data)
    assert "recipient._handle_rtcp_packet(packet)" in source
    assert "async def _send_rtp(self, data: bytes)" in inspect.getsource(RTCDtlsTransport)


def test_receive_starts_a_decoder_thread_the_private_stop_ends() -> None:
    source = inspect.getsource(RTCRtpReceiver.receive)
    assert "self.__decoder_thread = threading.Thread(" in source
    assert "await" not in source.split("def receive", 1)[1], (
        "receive() must not yield: the decoder is stopped right after it returns"
    )
    assert callable(RTCRtpReceiver._RTCRtpReceiver__stop_decoder)  # type: ignore[attr-defined]
    # The decoder is built lazily, on the first frame the thread receives.
    worker = inspect.getsource(aiortc.rtcrtpreceiver.decoder_worker)
    assert worker.index("input_q.get()") < worker.index("get_decoder(codec)")


async def test_run_without_decoder_stops_the_thread_and_reports_parameters() -> None:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("audio", direction="recvonly")
    receiver = transceiver.receiver
    from aiortc.rtcrtpreceiver import RemoteStreamTrack

    receiver._track = RemoteStreamTrack(kind="audio")
    seen: list[RTCRtpReceiveParameters] = []
    internals.run_without_decoder(receiver, seen.append)
    before = threading.active_count()

    # aiortc registers with the transport directly; it needs no connection.
    parameters = RTCRtpReceiveParameters(
        codecs=[RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=96)]
    )
    await receiver.receive(parameters)
    assert seen == [parameters]
    assert internals.decoder_thread(receiver) is None
    assert threading.active_count() == before
    await pc.close()


def test_sender_private_state_the_forwarding_output_uses() -> None:
    source = inspect.getsource(RTCRtpSender)
    for name in (
        "self.__rtp_history",
        "self.__ntp_timestamp",
        "self.__rtp_timestamp",
        "self.__packet_count",
        "self.__octet_count",
        "self.__encoder",
        "self._ssrc",
        "self._stream_id",
        "self._track_id",
    ):
        assert name in source, name
    # NACKs are answered from the history, keyed like ForwardingOutput keys it.
    retransmit = inspect.getsource(RTCRtpSender._retransmit)
    assert "self.__rtp_history.get(sequence_number % RTP_HISTORY_SIZE)" in retransmit
    assert RTP_HISTORY_SIZE == 128
    # SRs carry the counters.
    rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for counter in ("__ntp_timestamp", "__rtp_timestamp", "__packet_count", "__octet_count"):
        assert counter in rtcp
    # A PLI/FIR reaches _send_keyframe.
    assert "self._send_keyframe()" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    # The sender loop only builds an encoder after its track returned a frame.
    next_frame = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert next_frame.index("await self.__track.recv()") < next_frame.index("get_encoder(")


def test_receiver_rtcp_loop_the_bounded_reports_take_over() -> None:
    # receive() starts the loop through the instance; stop() waits on its two events.
    receive = inspect.getsource(RTCRtpReceiver.receive)
    assert "self.__rtcp_task = asyncio.ensure_future(self._run_rtcp())" in receive
    stop = inspect.getsource(RTCRtpReceiver.stop)
    assert "self.__rtcp_task.cancel()" in stop
    assert "self.__rtcp_started.wait()" in stop and "self.__rtcp_exited.wait()" in stop
    # What the replacement reads, as aiortc's loop reads it.
    rtcp = inspect.getsource(RTCRtpReceiver._run_rtcp)
    for line in (
        "self.__rtcp_started.set()",
        "for ssrc, stream in self.__remote_streams.items():",
        "lsr = self.__lsr[ssrc]",
        "delay = time.time() - self.__lsr_time[ssrc]",
        "packet = RtcpRrPacket(ssrc=self.__rtcp_ssrc, reports=reports)",
        "self.__rtcp_exited.set()",
    ):
        assert line in rtcp, line
    assert "await self.transport._send_rtp(bytes(packet))" in inspect.getsource(
        RTCRtpReceiver._send_rtcp
    )
    # NACK and PLI go through _send_rtcp looked up on the instance (replaced per instance).
    for method in (RTCRtpReceiver._send_rtcp_nack, RTCRtpReceiver._send_rtcp_pli):
        assert "await self._send_rtcp(packet)" in inspect.getsource(method)


def test_received_rtcp_goes_through_a_handler_looked_up_on_the_transport() -> None:
    recv = inspect.getsource(RTCDtlsTransport._recv_next)
    assert "await self._handle_rtcp_data(data)" in recv
    handle = inspect.getsource(RTCDtlsTransport._handle_rtcp_data)
    for line in (
        "packets = RtcpPacket.parse(data)",
        "for recipient in self._rtp_router.route_rtcp(packet):",
        "await recipient._handle_rtcp_packet(packet)",
    ):
        assert line in handle, line


def test_what_a_forced_close_releases() -> None:
    sender_stop = inspect.getsource(RTCRtpSender.stop)
    assert "self.__rtp_started.wait(), self.__rtcp_started.wait()" in sender_stop
    assert "self.__rtp_exited.wait(), self.__rtcp_exited.wait()" in sender_stop
    assert "self.__rtp_task = asyncio.ensure_future(self._run_rtp(" in inspect.getsource(
        RTCRtpSender.send
    )
    assert "self._task.cancel()" in inspect.getsource(RTCDtlsTransport.stop)
    connection_close = inspect.getsource(aioice.ice.Connection.close)
    assert "self._protocols" in connection_close
    assert "self.transport.close()" in inspect.getsource(aioice.ice.StunProtocol.close)


def test_sender_rtcp_loop_the_compound_reports_take_over() -> None:
    # send() starts the loop through the instance; stop() waits on its two events.
    send = inspect.getsource(RTCRtpSender.send)
    assert "self.__rtcp_task = asyncio.ensure_future(self._run_rtcp())" in send
    assert "self.__cname = parameters.rtcp.cname" in send
    stop = inspect.getsource(RTCRtpSender.stop)
    assert "self.__rtcp_task.cancel()" in stop
    assert "self.__rtcp_started.wait()" in stop and "self.__rtcp_exited.wait()" in stop
    # What the loop does that send_sender_reports does for it: the SR, the
    # SDES CNAME, the LSR pair RTT is computed from, and BYE on the way out.
    rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for line in (
        "self.__rtcp_started.set()",
        "self.__lsr = ((self.__ntp_timestamp) >> 16) & 0xFFFFFFFF",
        "self.__lsr_time = time.time()",
        'items=[(1, self.__cname.encode("utf8"))],',
        "packet = RtcpByePacket(sources=[self._ssrc])",
        "self.__rtcp_exited.set()",
        "await self._send_rtcp(packets)",
    ):
        assert line in rtcp, line
    handle = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "if self.__lsr == report.lsr and report.dlsr:" in handle
    assert "await self.transport._send_rtp(payload)" in inspect.getsource(RTCRtpSender._send_rtcp)


async def test_sender_reports_go_out_together_and_stop_still_completes() -> None:
    import asyncio

    from aiortc import RTCSessionDescription
    from aiortc.rtp import RtcpByePacket, RtcpPacket, RtcpSdesPacket, RtcpSrPacket

    from server.sfu.subscription import ForwardedTrackPlaceholder
    from signaling.media import TrackKind
    from tests.server.sfu.peers import client_peer_connection

    server = client_peer_connection()  # max-bundle, as subscribe connections are
    senders = []
    for kind in (TrackKind.AUDIO, TrackKind.VIDEO, TrackKind.VIDEO):
        sender = server.addTransceiver(ForwardedTrackPlaceholder(kind), "sendonly").sender
        internals.take_over_sender_reports(sender)
        senders.append(sender)
    client = client_peer_connection()
    datagrams: list[list[object]] = []
    await server.setLocalDescription(await server.createOffer())
    await client.setRemoteDescription(server.localDescription)
    await client.setLocalDescription(await client.createAnswer())
    dtls: Any = client.getTransceivers()[0].receiver.transport
    original = dtls._handle_rtcp_data

    async def spy(data: bytes) -> None:
        datagrams.append(RtcpPacket.parse(data))
        await original(data)

    dtls._handle_rtcp_data = spy
    await server.setRemoteDescription(
        RTCSessionDescription(sdp=client.localDescription.sdp, type="answer")
    )
    await eventually(lambda: server.connectionState == "connected", 10, "connected")
    await eventually(lambda: all(s._RTCRtpSender__started for s in senders), 5, "senders started")
    assert await internals.send_sender_reports(senders) == 1
    ssrcs = {s._ssrc for s in senders}

    def compound_arrived() -> bool:
        for packets in datagrams:
            reported = {p.ssrc for p in packets if isinstance(p, RtcpSrPacket)}
            sdes = [p for p in packets if isinstance(p, RtcpSdesPacket)]
            if reported == ssrcs and sdes and {c.ssrc for c in sdes[0].chunks} == ssrcs:
                return True
        return False

    await eventually(compound_arrived, 5, "one compound packet with every sender's SR")
    # The LSR RTT is computed from is set on each sender, as aiortc's loop sets it.
    assert all(s._RTCRtpSender__lsr is not None for s in senders)
    await asyncio.wait_for(server.close(), 10)  # stop() waits on the taken-over loops
    await eventually(
        lambda: any(isinstance(p, RtcpByePacket) for packets in datagrams for p in packets),
        5,
        "BYE on stop",
    )
    await client.close()


def test_send_is_called_by_the_peer_connection_once_connected() -> None:
    connect = inspect.getsource(RTCPeerConnection._RTCPeerConnection__connect)  # type: ignore[attr-defined]
    assert 'if dtlsTransport.state == "connected":' in connect
    assert "await transceiver.sender.send(self.__localRtp(transceiver))" in connect
    assert "await transceiver.receiver.receive(" in connect


async def test_forwarding_output_reads_and_updates_sender_state() -> None:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="sendonly")
    sender = transceiver.sender
    parameters = RTCRtpSendParameters(
        codecs=[
            RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97),
            RTCRtpCodecParameters(
                mimeType="video/rtx", clockRate=90000, payloadType=98, parameters={"apt": 97}
            ),
        ],
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        ],
        muxId="3",
    )
    output = internals.ForwardingOutput(sender, parameters)
    assert output.ssrc == sender._ssrc
    assert output.payload_type == 97
    # Its copies carry the slot's SSRC, payload type and mid.
    copies = PacketCopies(
        marker=False, payload=b"vp8", padding_size=0, abs_send_time=0, audio_level=None
    )
    written = RtpPacket.parse(output._line.write(copies, 1, 2), output._extension_map)
    assert (written.ssrc, written.payload_type, written.extensions.mid) == (output.ssrc, 97, "3")
    assert output.extension_ids == ExtensionIds(mid=1, abs_send_time=None, audio_level=None)
    assert output.sender_report_counts() == (0, 0, 0, 0)
    assert not output.is_connected()
    # NACKs reach the output's history, not aiortc's (which stays empty).
    assert sender._retransmit == output._retransmit
    await pc.close()


def test_forwarding_send_path_mirrors_the_dtls_transport() -> None:
    # ForwardingOutput._send does what _send_rtp does, without its coroutine layers.
    send_rtp = inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "if self._state != State.CONNECTED:" in send_rtp
    assert "data = self._tx_srtp.protect(data)" in send_rtp
    assert "await self.transport._send(data)" in send_rtp
    ice_start = inspect.getsource(aiortc.rtcicetransport.RTCIceTransport.__init__)
    assert "self._send = self._connection.send" in ice_start
    assert "self._connection = gatherer._connection" in ice_start
    # The output keeps the connection's _nominated dict: it is never replaced.
    connection = inspect.getsource(aioice.ice.Connection)
    assert connection.count("self._nominated: dict[int, CandidatePair] = {}") == 1
    assert connection.count("self._nominated =") == 0
    sendto = inspect.getsource(aioice.ice.Connection.sendto)
    assert "active_pair = self._nominated.get(component)" in sendto
    assert "await active_pair.protocol.send_data(data, active_pair.remote_addr)" in sendto
    send_data = inspect.getsource(aioice.ice.StunProtocol.send_data)
    assert "self.transport.sendto(data, addr)" in send_data
    pair = inspect.getsource(aioice.ice.CandidatePair)
    for name in ("def local_candidate", "def remote_addr", "self.remote_candidate = "):
        assert name in pair
    # A NACK is answered by the instance's _retransmit; RTCP reaches the
    # instance's _handle_rtcp_packet; the RTT is kept in __rtt.
    handle = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "await self._retransmit(seq)" in handle
    assert "self.__rtt = " in handle
    assert "self._rtx_ssrc = " in inspect.getsource(RTCRtpSender.__init__)


def test_receive_bookkeeping_mirrors_the_receive_handler() -> None:
    handler = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    for line in (
        "self.__remote_bitrate_estimator.add(",
        "await self._send_rtcp(rtcp_packet)",
        "self.__remote_streams[packet.ssrc] = StreamStatistics(codec.clockRate)",
        "self.__remote_streams[packet.ssrc].add(packet)",
        "self.__nack_generator.add(packet)",
        "await self._send_rtcp_nack(",
    ):
        assert line in handler, line
    init = inspect.getsource(RTCRtpReceiver.__init__)
    for name in ("self.__codecs", "self.__nack_generator", "self.__remote_bitrate_estimator"):
        assert name in init
    assert "self.__rtcp_ssrc" in init
    # The RTCP task reads the statistics the bookkeeping feeds.
    assert "self.__remote_streams.items()" in inspect.getsource(RTCRtpReceiver._run_rtcp)
    statistics = inspect.getsource(aiortc.rtcrtpreceiver.StreamStatistics)
    for name in ("self.max_seq", "self.packets_received", "self._clockrate", "def jitter"):
        assert name in statistics


async def test_receive_bookkeeping_feeds_the_statistics_aiortc_reports() -> None:
    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("video", direction="recvonly").receiver
    receiver._RTCRtpReceiver__codecs[96] = RTCRtpCodecParameters(  # type: ignore[attr-defined]
        mimeType="video/VP8", clockRate=90000, payloadType=96
    )
    bookkeeping = internals.ReceiveBookkeeping(receiver)
    for seq in (10, 11, 13):
        packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=seq * 3000, ssrc=5)
        bookkeeping.observe(packet, 0, packet)
    counts = bookkeeping.counts(5)
    assert counts is not None
    assert (counts.expected, counts.received) == (4, 3)
    assert bookkeeping.counts(6) is None
    nacks = receiver._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]
    assert nacks.missing == {12}
    await pc.close()


async def test_selected_candidate_types_before_connecting() -> None:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio")
    assert internals.selected_candidate_types(pc) is None
    await pc.close()


def test_codec_list_and_labels_are_plain_attributes() -> None:
    transceiver_source = inspect.getsource(RTCRtpTransceiver.__init__)
    assert "self._codecs: list[RTCRtpCodecParameters] = []" in transceiver_source
    create_media = inspect.getsource(
        aiortc.rtcpeerconnection.create_media_description_for_transceiver
    )
    assert "transceiver.sender._stream_id" in create_media
    assert "transceiver.sender._track_id" in create_media
    answer = inspect.getsource(RTCPeerConnection.createAnswer)
    assert "create_media_description_for_transceiver(" in answer


async def test_restrict_negotiated_codecs_keeps_rtx_of_kept_codecs_only() -> None:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video")
    transceiver._codecs = [
        RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
        RTCRtpCodecParameters(
            mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96}
        ),
        RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102),
        RTCRtpCodecParameters(
            mimeType="video/rtx", clockRate=90000, payloadType=103, parameters={"apt": 102}
        ),
    ]
    internals.restrict_negotiated_codecs(transceiver, lambda c: c.mimeType == "video/VP8")
    assert [c.payloadType for c in transceiver._codecs] == [96, 97]
    await pc.close()


def test_unwrap_rtx_restores_the_original_packet() -> None:
    from aiortc.rtp import wrap_rtx

    original = RtpPacket(payload_type=96, sequence_number=1000, timestamp=5, ssrc=1234)
    original.payload = b"\x10\x00payload"
    rtx = wrap_rtx(original, payload_type=97, sequence_number=7, ssrc=999)
    unwrapped = internals.unwrap_rtx(rtx, payload_type=96, ssrc=1234)
    assert (unwrapped.sequence_number, unwrapped.ssrc, unwrapped.payload_type) == (1000, 1234, 96)
    assert unwrapped.payload == original.payload


def test_parse_ice_candidate() -> None:
    candidate = internals.parse_ice_candidate(
        "candidate:842163049 1 udp 1677729535 192.0.2.7 3478 typ srflx raddr 0.0.0.0 rport 0",
        "0",
        0,
    )
    assert (candidate.ip, candidate.port, candidate.type) == ("192.0.2.7", 3478, "srflx")
    assert (candidate.sdpMid, candidate.sdpMLineIndex) == ("0", 0)


def _readlink(path: str) -> str | None:
    import os

    try:
        return os.readlink(path)
    except OSError:
        return None  # a descriptor closed meanwhile (the listing's own)


def _srtp_session(key: bytes, direction: str) -> Any:
    from pylibsrtp import Policy, Session

    ssrc_type = Policy.SSRC_ANY_OUTBOUND if direction == "out" else Policy.SSRC_ANY_INBOUND
    policy = Policy(
        key=key, ssrc_type=ssrc_type, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    )
    policy.allow_repeat_tx = True  # as RTCDtlsTransport sets it: NACKs resend a sent packet
    return Session(policy)


def test_srtp_protect_is_libsrtp2s_and_sessions_keep_their_context() -> None:
    # CopySender calls srtp_protect through this address with this signature.
    from pylibsrtp import Session
    from pylibsrtp._binding import ffi, lib

    assert str(ffi.typeof(lib.srtp_protect)) == (
        "<ctype 'srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)'>"
    )
    assert internals.srtp_protect_address() == int(
        ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect"))
    )
    assert lib.srtp_err_status_ok == 0  # CopySender treats any other status as failure
    source = inspect.getsource(Session)
    for name in (
        "self._cdata = ",
        "self._buffer = ffi.buffer(self._cdata)",
        "self._srtp = ffi.gc(srtp, lambda x: lib.srtp_dealloc(x[0]))",
    ):
        assert name in source
    # NACKs reach as far back as aiortc's own history does, and a packet
    # resent without RTX is protected again under its old index.
    assert HISTORY_SIZE == RTP_HISTORY_SIZE
    assert "tx_policy.allow_repeat_tx = True" in inspect.getsource(RTCDtlsTransport)


def test_libsrtp_abi_check_passes_for_the_bundled_libsrtp2() -> None:
    # The pinned pylibsrtp bundles libsrtp 2.7.0 and exports srtp_get_version.
    from pylibsrtp._binding import ffi, lib

    version = internals.libsrtp_version()
    assert version >> 24 == 2
    assert (version >> 16) & 0xFF == 7
    internals.check_libsrtp_abi(version, ffi.typeof(lib.srtp_protect).cname)


def test_libsrtp_abi_check_refuses_libsrtp3_or_another_signature() -> None:
    libsrtp2_signature = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"
    with pytest.raises(internals.IncompatibleLibsrtp, match=r"libsrtp 3\.0\.0.*needs libsrtp 2"):
        internals.check_libsrtp_abi(0x03000000, libsrtp2_signature)
    with pytest.raises(internals.IncompatibleLibsrtp, match=r"libsrtp 1\.6\.0"):
        internals.check_libsrtp_abi(0x01060000, libsrtp2_signature)
    libsrtp3_signature = (
        "srtp_err_status_t(*)(struct srtp_ctx_t_ *, uint8_t *, size_t, uint8_t *, size_t *, size_t)"
    )
    with pytest.raises(internals.IncompatibleLibsrtp, match="declares srtp_protect"):
        internals.check_libsrtp_abi(0x02070000, libsrtp3_signature)


async def test_copy_sender_protects_as_pylibsrtp_and_sends_on_the_route() -> None:
    import asyncio
    import fcntl
    import os
    import socket

    loop = asyncio.get_running_loop()
    received: list[bytes] = []

    class Collect(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.append(data)

    sink, _ = await loop.create_datagram_endpoint(Collect, local_addr=("127.0.0.1", 0))
    source, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    # What ForwardingOutput hands the line: the transport's socket, sendto and queue.
    sock = source.get_extra_info("socket")
    assert isinstance(sock.fileno(), int) and sock.type == socket.SOCK_DGRAM
    import asyncio.selector_events
    import collections

    assert isinstance(source._buffer, collections.deque)  # type: ignore[attr-defined]
    assert "self._buffer.append(" in inspect.getsource(
        asyncio.selector_events._SelectorDatagramTransport.sendto
    )
    key = os.urandom(30)
    reference, ours = _srtp_session(key, "out"), _srtp_session(key, "out")
    host, port = sink.get_extra_info("sockname")
    line = ExtensionIds(mid=1, abs_send_time=2, audio_level=None).copy_sender(7, 96, "0")
    handed_over: list[tuple[bytes, tuple[str, int]]] = []
    queue: list[bytes] = []

    def route_to(to_host: str, fd: int | None = None) -> DatagramRoute:
        return DatagramRoute(
            fd=sock.fileno() if fd is None else fd,
            host=to_host,
            port=port,
            srtp_context=int(internals.srtp_ffi.cast("uintptr_t", ours._srtp[0])),
            srtp_protect=internals.srtp_protect_address(),
            srtp_owner=ours,
            fallback_sendto=lambda data, addr: handed_over.append((data, addr)),
            queue=queue,
        )

    def descriptors_of_the_socket() -> set[int]:
        socket_link = os.readlink(f"/proc/self/fd/{sock.fileno()}")
        fds = {int(fd) for fd in os.listdir("/proc/self/fd")}
        return {
            fd
            for fd in fds
            if fd != sock.fileno() and _readlink(f"/proc/self/fd/{fd}") == socket_link
        }

    route = route_to(host)
    # One duplicate descriptor per route, not inherited by child processes.
    (duplicate,) = descriptors_of_the_socket()
    assert fcntl.fcntl(duplicate, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    line.attach(route)
    assert line.route is route and route.open
    expected: list[bytes] = []
    for seq in range(3):
        copies = PacketCopies(
            marker=seq == 2,
            payload=os.urandom(900),
            padding_size=0,
            abs_send_time=seq,
            audio_level=None,
        )
        size = line.send(copies, seq, seq * 3000)
        plain = line.kept(seq)
        assert plain is not None and size == len(plain)
        expected.append(reference.protect(plain))
    assert (line.packets, line.payload_octets) == (3, 2700)  # what the next SR carries
    retransmission = line.kept(1)
    assert retransmission is not None
    line.send_packet(retransmission)
    expected.append(reference.protect(retransmission))
    await eventually(lambda: len(received) == 4, 5, "four datagrams")
    assert received == expected
    assert handed_over == []
    # While the transport has datagrams queued, a copy goes behind them.
    queue.append(b"queued")
    copies = PacketCopies(
        marker=False, payload=b"late", padding_size=0, abs_send_time=0, audio_level=None
    )
    line.send(copies, 3, 0)
    plain = line.kept(3)
    assert plain is not None
    assert handed_over == [(reference.protect(plain), (host, port))]
    queue.clear()
    # A socket that refuses the datagram (an IPv6 address on an IPv4 socket)
    # hands it to the transport too, which reports the error to its protocol.
    line.attach(route_to("::1"))
    line.send(copies, 4, 0)
    plain = line.kept(4)
    assert plain is not None
    assert handed_over[-1] == (reference.protect(plain), ("::1", port))
    # A closed route sends nothing more: the slot's connection is going away.
    line.attach(route)
    route.close()
    assert not route.open
    assert descriptors_of_the_socket() == set()
    with pytest.raises(ConnectionError):
        line.send(copies, 5, 0)
    assert line.packets == 5  # the refused copy is not counted for sender reports
    line.detach()
    assert line.route is None
    with pytest.raises(ValueError, match="numeric"):
        route_to("localhost")
    with pytest.raises(OSError):
        route_to(host, fd=-1)  # the transport's socket is already closed
    with pytest.raises(ValueError):
        DatagramRoute(
            fd=sock.fileno(),
            host=host,
            port=port,
            srtp_context=0,
            srtp_protect=internals.srtp_protect_address(),
            srtp_owner=ours,
            fallback_sendto=print,
            queue=queue,
        )
    source.close()
    sink.close()


def test_srtp_unprotector_matches_pylibsrtp_session_unprotect() -> None:
    import os

    from pylibsrtp import Error

    key = os.urandom(30)
    sender = _srtp_session(key, "out")
    reference, ours = _srtp_session(key, "in"), _srtp_session(key, "in")
    unprotector = internals.SrtpUnprotector(ours)
    for seq in range(3):
        packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=seq, ssrc=7)
        packet.payload = os.urandom(900)
        protected = sender.protect(packet.serialize())
        assert unprotector.unprotect(protected) == reference.unprotect(protected)
    # A replayed packet is refused, as Session.unprotect refuses it.
    with pytest.raises(Error):
        unprotector.unprotect(protected)


def test_direct_receive_mirrors_the_dtls_receive_loop() -> None:
    # receive_rtp_directly does for RTP what _recv_next and _handle_rtp_data do.
    recv_next = inspect.getsource(RTCDtlsTransport._recv_next)
    for line in (
        "self.__rx_bytes += len(data)",
        "self.__rx_packets += 1",
        "elif first_byte > 127 and first_byte < 192 and self._rx_srtp:",
        "arrival_time_ms = clock.current_ms()",
        "if is_rtcp(data):",
        "data = self._rx_srtp.unprotect(data)",
    ):
        assert line in recv_next, line
    assert "msg[1] >= 192 and msg[1] <= 208" in inspect.getsource(aiortc.rtp.is_rtcp)
    handle = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    assert "RtpPacket.parse(data, self._rtp_header_extensions_map)" in handle
    assert "receiver = self._rtp_router.route_rtp(packet)" in handle
    # aiortc's arrival stamps count milliseconds from 1900.
    ours = int(time.time() * 1000) + 2208988800 * 1000
    assert abs(aiortc.clock.current_ms() - ours) < 1000
    # Data reaches the connection through each protocol's datagram_received,
    # which asyncio looks up on the protocol instance.
    stun = inspect.getsource(aioice.ice.StunProtocol.datagram_received)
    assert "self.receiver.data_received(data, self.local_candidate.component)" in stun
    assert "self._queue.put_nowait((data, component))" in inspect.getsource(
        aioice.ice.Connection.data_received
    )
    assert "self._protocols: list[StunProtocol] = []" in inspect.getsource(
        aioice.ice.Connection.__init__
    )
    import asyncio.selector_events

    read_ready = inspect.getsource(asyncio.selector_events._SelectorDatagramTransport._read_ready)
    assert "self._protocol.datagram_received(data, addr)" in read_ready
    # RTCRtpReceiver.receive registers with a connected transport: the
    # peer connection starts the DTLS transport first.
    connect = inspect.getsource(RTCPeerConnection._RTCPeerConnection__connect)  # type: ignore[attr-defined]
    assert connect.index("await dtlsTransport.start(") < connect.index(
        "await transceiver.receiver.receive("
    )


def test_guard_relies_on_what_the_dtls_receive_loop_does() -> None:
    # aiortc's receive loop survives only pylibsrtp's own error: anything
    # else (ValueError for an oversize datagram) ends the transport. The
    # guard exists because of this; if it changes, re-check the guard.
    recv_next = inspect.getsource(RTCDtlsTransport._recv_next)
    assert "except pylibsrtp.Error as exc:" in recv_next
    # Looked up on the instance, so the guard's wrapper is what runs.
    assert "await self._handle_rtp_data(data, arrival_time_ms=arrival_time_ms)" in recv_next
    run = inspect.getsource(RTCDtlsTransport._RTCDtlsTransport__run)  # type: ignore[attr-defined]
    assert "await self._recv_next()" in run and "raise exc" in run
    # The selected pair per component, and its remote address.
    assert "self._nominated: dict[int, CandidatePair] = {}" in inspect.getsource(
        aioice.ice.Connection.__init__
    )
    assert "def remote_addr(self) -> tuple[str, int]:" in inspect.getsource(
        aioice.ice.CandidatePair
    )
    # Every candidate pair of the session, whose remote ends may send too.
    assert "self._check_list: list[CandidatePair] = []" in inspect.getsource(
        aioice.ice.Connection.__init__
    )
    # STUN goes to aioice: every STUN message starts with 0b00 (RFC 7983).
    stun = inspect.getsource(aioice.ice.StunProtocol.datagram_received)
    assert "message = stun.parse_message(data)" in stun
    # The router learns an SSRC it routed by mid or payload type: only
    # admitted SSRCs may reach it.
    route = inspect.getsource(aiortc.rtcdtlstransport.RtpRouter.route_rtp)
    assert "self.ssrc_table[packet.ssrc] = pt_receiver" in route
    # Receive parameters carry the negotiated SSRCs (media and RTX).
    # MAX_SEQUENCE_DROPOUT stays inside the receive replay window aiortc sets.
    assert "rx_policy.window_size = 1024" in inspect.getsource(RTCDtlsTransport._setup_srtp)
    register = inspect.getsource(RTCDtlsTransport._register_rtp_receiver)
    assert "ssrcs.add(encoding.ssrc)" in register
    from aiortc.rtcrtpparameters import RTCRtpDecodingParameters, RTCRtpRtxParameters

    encoding = RTCRtpDecodingParameters(ssrc=1, payloadType=96, rtx=RTCRtpRtxParameters(ssrc=2))
    assert (encoding.ssrc, encoding.rtx.ssrc if encoding.rtx else None) == (1, 2)


def test_nack_generator_walks_gaps_and_the_estimator_keys_by_ssrc() -> None:
    from aiortc.rate import RemoteBitrateEstimator
    from aiortc.rtcrtpreceiver import NackGenerator

    nacks = NackGenerator()
    assert nacks.max_seq is None and nacks.missing == set()
    nacks.add(RtpPacket(sequence_number=10))
    assert nacks.add(RtpPacket(sequence_number=14)) is True
    assert nacks.missing == {11, 12, 13} and nacks.max_seq == 14
    # Reset as ReceiveBookkeeping does: the next packet starts afresh.
    nacks.max_seq = None
    nacks.missing.clear()
    assert nacks.add(RtpPacket(sequence_number=40000)) is False and nacks.missing == set()
    assert "while uint16_gt(packet.sequence_number, seq):" in inspect.getsource(NackGenerator.add)
    estimator = RemoteBitrateEstimator()
    estimator.add(abs_send_time=0, arrival_time_ms=0, payload_size=100, ssrc=7)
    assert list(estimator.ssrcs) == [7]


def test_window_rate_answers_as_aiortcs_rate_counter() -> None:
    import random

    from aiortc.rate import RateCounter, RemoteBitrateEstimator

    assert "self.incoming_bitrate = RateCounter(1000, 8000)" in inspect.getsource(
        RemoteBitrateEstimator.__init__
    )
    add = inspect.getsource(RemoteBitrateEstimator.add)
    for line in (
        "self.incoming_bitrate.rate(arrival_time_ms)",
        "self.incoming_bitrate.reset()",
        "self.incoming_bitrate.add(payload_size, arrival_time_ms)",
    ):
        assert line in add, line
    rng = random.Random(7)
    reference, ours = RateCounter(1000, 8000), WindowRate(1000)
    now = 10_000
    for step in range(5000):
        now += rng.choice((0, 0, 1, 3, 12, 40, 900, 1500))
        if step % 700 == 699:
            reference.reset()
            ours.reset()
        assert ours.rate(now) == reference.rate(now), step
        size = rng.randrange(50, 1200)
        reference.add(size, now)
        ours.add(size, now)
        assert ours.rate(now) == reference.rate(now), step


# -- ICE: candidates, NAT, mDNS -------------------------------------------------------


def test_aioice_is_the_pinned_version() -> None:
    from importlib.metadata import version

    assert version("aioice") == "0.13.0", "re-check the ICE section of aiortc_internals.py"


def test_peer_connection_creates_each_transport_through_the_private_factory() -> None:
    # install_ice_policy wraps it on the instance: self.__createDtlsTransport() is
    # looked up there, and it builds the gatherer whose aioice Connection we adjust.
    source = inspect.getsource(RTCPeerConnection)
    assert source.count("self.__createDtlsTransport()") >= 2
    create = inspect.getsource(RTCPeerConnection._RTCPeerConnection__createDtlsTransport)  # type: ignore[attr-defined]
    assert "RTCIceGatherer(" in create and "RTCIceTransport(iceGatherer)" in create
    gather = inspect.getsource(aiortc.rtcicetransport.RTCIceGatherer.gather)
    assert "await self._connection.gather_candidates()" in gather


def test_aioice_gathers_and_ends_candidates_through_instance_lookups() -> None:
    connection = aioice.ice.Connection
    gather = inspect.getsource(connection.gather_candidates)
    assert "self.get_component_candidates(component=component, addresses=addresses)" in gather
    assert list(inspect.signature(connection.get_component_candidates).parameters) == [
        "self",
        "component",
        "addresses",
        "timeout",
    ]
    # Host candidates: a StunProtocol per socket with its local_candidate, kept in _protocols.
    components = inspect.getsource(connection.get_component_candidates)
    assert "lambda: StunProtocol(self), local_addr=(address, 0)" in components
    assert "self._protocols += host_protocols" in components
    assert 'candidate_foundation("host", "udp", candidate_address[0])' in components
    assert "turn.UDP_SOCKET_BUFFER_SIZE" in components
    # mDNS candidates are resolved in add_remote_candidate (which aiortc calls on us).
    assert "mdns.is_mdns_hostname(remote_candidate.host)" in inspect.getsource(
        connection.add_remote_candidate
    )
    assert "await self._connection.add_remote_candidate(" in inspect.getsource(
        aiortc.rtcicetransport.RTCIceTransport.addRemoteCandidate
    )
    # End-of-candidates: pruning, then the failure check; both looked up on self.
    end = inspect.getsource(connection._end_remote_candidates)
    assert "self._prune_components()" in end and "self._check_list_maybe_fail()" in end
    add = inspect.getsource(connection.add_remote_candidate)
    assert "self._end_remote_candidates()" in add
    # Waiting on: connect()'s check loop and the failure check ask whether more
    # remote candidates are expected; an incoming check makes a peer-reflexive pair.
    assert "return self._remote_candidates_expected()" in inspect.getsource(
        connection._check_periodic
    )
    assert "if self._remote_candidates_expected():" in inspect.getsource(
        connection._check_list_maybe_fail
    )
    assert 'type="prflx"' in inspect.getsource(connection.check_incoming)
    for name in ("_closing", "_check_list_done", "_nominated", "stun_server", "turn_server"):
        assert name in inspect.getsource(connection.__init__), name


async def _connect_pair(
    adjust_controlled: bool, mdns_candidate: bool
) -> tuple[bool, bool, str | None]:
    """Two aioice Connections on this machine; the controlled one is given no usable
    remote candidate (at most an mDNS name), then end-of-candidates, as from Firefox."""
    import asyncio

    controlling = aioice.ice.Connection(ice_controlling=True, use_ipv6=False)
    controlled = aioice.ice.Connection(ice_controlling=False, use_ipv6=False)
    if adjust_controlled:
        ice._adjust_connection(controlled, internals.IcePolicy(wait_for_checks_s=5))
    try:
        await controlling.gather_candidates()
        await controlled.gather_candidates()
        for local, remote in ((controlling, controlled), (controlled, controlling)):
            local.remote_username = remote.local_username
            local.remote_password = remote.local_password
        for candidate in controlled.local_candidates:
            await controlling.add_remote_candidate(candidate)
        await controlling.add_remote_candidate(None)
        if mdns_candidate:
            # Only with the policy, which drops it before aioice would send an mDNS query.
            mdns = aioice.Candidate.from_sdp(
                "6815297761 1 udp 2130706431 0e4d1b77-5f3e-4a4c-9d62-0bd7f7b7c0de.local"
                " 50000 typ host"
            )
            await controlled.add_remote_candidate(mdns)
        await controlled.add_remote_candidate(None)
        results = await asyncio.gather(
            asyncio.wait_for(controlling.connect(), 15),
            asyncio.wait_for(controlled.connect(), 15),
            return_exceptions=True,
        )
        ok = [r is None for r in results]
        pair = controlled._nominated.get(1)
        return ok[0], ok[1], pair.remote_candidate.type if pair is not None else None
    finally:
        await controlling.close()
        await controlled.close()


async def test_without_the_policy_aioice_fails_a_peer_without_usable_candidates() -> None:
    # What the issue saw with Firefox: "Components {1} have no candidate pairs". (No mDNS
    # name here: aioice would send a multicast query off this machine to resolve it.)
    _, controlled_ok, _ = await _connect_pair(adjust_controlled=False, mdns_candidate=False)
    assert not controlled_ok


async def test_with_the_policy_the_peers_checks_give_a_peer_reflexive_pair() -> None:
    for mdns_candidate in (True, False):
        controlling_ok, controlled_ok, remote_type = await _connect_pair(
            adjust_controlled=True, mdns_candidate=mdns_candidate
        )
        assert controlling_ok and controlled_ok
        assert remote_type == "prflx"


async def test_the_policy_drops_mdns_candidates_without_resolving_them() -> None:
    connection = aioice.ice.Connection(ice_controlling=False, use_ipv6=False)
    ice._adjust_connection(connection, internals.IcePolicy())
    try:
        mdns = aioice.Candidate.from_sdp(
            "1 1 udp 2130706431 8d3f2c1e-0000-4000-8000-000000000000.local 50000 typ host"
        )
        await connection.add_remote_candidate(mdns)
        assert connection.remote_candidates == []
        assert connection._remote_candidates_resolving == 0
        assert not getattr(aioice.ice._mdns, "protocol", None)  # no mDNS socket was made
    finally:
        await connection.close()


async def test_host_candidates_announced_and_bound_in_the_port_range() -> None:
    connection = aioice.ice.Connection(ice_controlling=False, use_ipv6=False)
    policy = internals.IcePolicy(announced_address="203.0.113.9", ports=(45000, 45015))
    ice._adjust_connection(connection, policy)
    try:
        await connection.gather_candidates()
        [candidate] = connection.local_candidates  # one wildcard socket stands for all
        assert candidate.host == "203.0.113.9" and candidate.type == "host"
        assert 45000 <= candidate.port <= 45015
        [protocol] = connection._protocols
        assert type(protocol) is aioice.ice.StunProtocol
        assert protocol.transport.get_extra_info("sockname") == ("0.0.0.0", candidate.port)
    finally:
        await connection.close()


def test_a_full_port_range_is_a_clear_error() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(internals.NoFreeMediaPort, match=f"no free UDP port in {port}-{port}"):
            ice._bind_media_socket("127.0.0.1", (port, port))


# -- simulcast (issue 17) -------------------------------------------------------


async def test_simulcast_extensions_go_into_the_answer_and_the_receive_parameters() -> None:
    """``accept_simulcast`` adds rid and repaired rid to ``RTCRtpTransceiver._headerExtensions``,
    which aiortc writes the answer's extmaps from and builds the receive parameters (and so
    the transport's ``HeaderExtensionsMap``) from; aiortc's SDP layer ignores a=rid and
    a=simulcast (so the plane answers them in text)."""
    from aiortc import RTCSessionDescription
    from aiortc.rtcrtpparameters import RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap

    from benchmarks.simulcast import RID_ID, RID_URI, RRID_ID, RRID_URI, simulcast_offer
    from server.sfu.simulcast_sdp import offered_simulcast

    offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
    offerer.addTransceiver("video", direction="sendonly")
    await offerer.setLocalDescription(await offerer.createOffer())
    offer = simulcast_offer(offerer.localDescription.sdp)
    await answerer.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    transceiver = answerer.getTransceivers()[0]
    assert RID_URI not in {e.uri for e in transceiver._headerExtensions}  # aiortc drops it
    section = offered_simulcast(offer)[transceiver.mid]
    internals.accept_simulcast(transceiver, section.extension_ids)
    await answerer.setLocalDescription(await answerer.createAnswer())
    answer = answerer.localDescription.sdp
    assert f"a=extmap:{RID_ID} {RID_URI}" in answer
    assert f"a=extmap:{RRID_ID} {RRID_URI}" in answer
    assert "a=rid:" not in answer and "a=simulcast" not in answer
    target: Any = answerer
    parameters = target._RTCPeerConnection__remoteRtp(transceiver)
    assert not parameters.encodings  # no a=ssrc: the layers' SSRCs are learnt
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=parameters.headerExtensions))
    packet = RtpPacket(payload_type=96, sequence_number=1, timestamp=0, ssrc=5)
    packet.extensions.rtp_stream_id = "h"
    packet.extensions.mid = transceiver.mid
    parsed = RtpPacket.parse(packet.serialize(extensions), extensions)
    assert (parsed.extensions.rtp_stream_id, parsed.extensions.mid) == ("h", transceiver.mid)
    await offerer.close()
    await answerer.close()


def test_the_router_routes_unknown_ssrcs_by_payload_type_alone_and_its_ssrc_table_by_ssrc() -> None:
    """Two video receivers sharing VP8 (a camera and a screen): aiortc cannot route a new
    SSRC (it does not look at the mid), so the guard enters a layer's SSRC in
    ``RtpRouter.ssrc_table`` itself, and ``route_rtp`` then routes it."""
    from aiortc.rtcdtlstransport import RtpRouter

    router = RtpRouter()
    camera, screen = object(), object()
    router.register_receiver(camera, ssrcs=[], payload_types=[96, 97], mid="1")  # type: ignore[arg-type]
    router.register_receiver(screen, ssrcs=[], payload_types=[96, 97], mid="2")  # type: ignore[arg-type]
    packet = RtpPacket(payload_type=96, sequence_number=1, timestamp=0, ssrc=4242)
    packet.extensions.mid = "1"
    assert router.route_rtp(packet) is None
    router.ssrc_table[4242] = camera  # type: ignore[assignment]
    assert router.route_rtp(packet) is camera
    rtx = RtpPacket(payload_type=97, sequence_number=1, timestamp=0, ssrc=4242)
    assert router.route_rtp(rtx) is camera


async def test_a_completed_offer_keeps_transport_cc_and_aiortc_parses_feedback_as_a_nack() -> None:
    """Transport-wide congestion control relies on two things aiortc does: its
    ``setLocalDescription`` keeps the extmap and rtcp-fb lines added to the offer it
    wrote (the local description is written from what it parsed), and it parses
    transport-wide feedback (RTPFB FMT 15) as an RtcpRtpfbPacket whose fields it drops,
    so the raw compound must be read before it (``observe_transport_feedback``)."""
    from aiortc import RTCSessionDescription
    from aiortc.rtp import RtcpPacket, RtcpRtpfbPacket

    from server.sfu.transport_cc import TRANSPORT_CC_URI, answered_transport_cc, offer_transport_cc

    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio", direction="sendonly")
        pc.addTransceiver("video", direction="sendonly")
        offer = await pc.createOffer()
        await pc.setLocalDescription(
            RTCSessionDescription(sdp=offer_transport_cc(offer.sdp), type="offer")
        )
        local = pc.localDescription.sdp
        assert local.count(TRANSPORT_CC_URI) == 2
        assert answered_transport_cc(local) is not None
        # The guard's _handle_rtcp_data replacement is what shows the observer the compound.
        transport = pc.getTransceivers()[0].sender.transport
        with pytest.raises(RuntimeError):
            internals.observe_transport_feedback(transport, lambda data: None)
    finally:
        await pc.close()
    feedback = bytes([0x8F, 205, 0, 5]) + bytes(8) + bytes([0, 1, 0, 1, 0, 0, 0, 0, 0x20, 1, 4, 0])
    (packet,) = RtcpPacket.parse(feedback)
    assert isinstance(packet, RtcpRtpfbPacket) and packet.fmt == 15
    assert not hasattr(packet, "fci")
