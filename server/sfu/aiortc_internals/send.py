"""The send direction: forwarding outputs and their routes, sender reports, and what a
subscriber's PLI, FIR and NACK reach.

Part of the aiortc quarantine: every private name used here is listed, and pinned,
in ``server/sfu/aiortc_internals/__init__.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aioice.ice import StunProtocol
from aiortc import (
    RTCRtpSender,
)
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtpSendParameters,
)
from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
    wrap_rtx,
)
from pylibsrtp import Error as SrtpError
from pylibsrtp._binding import ffi as srtp_ffi

from server.sfu.aiortc_internals.libsrtp import srtp_protect_address
from server.sfu.background import run_soon
from server.sfu.copy_sender import (
    DatagramRoute,
    ExtensionIds,
    PacketCopies,
    TransportSequence,
)
from server.sfu.copy_sender import SrtpError as CopySrtpError
from server.sfu.reports import ReceiverReport

logger = logging.getLogger(__name__)


_DTLS_CONNECTED = DtlsState.CONNECTED


# How often a forwarding sender's SR counters are brought up to date: 0.1 s in
# 32.32 fixed-point NTP units.
_SR_UPDATE_INTERVAL_NTP = (1 << 32) // 10


_MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"


_ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


_AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


# A ForwardingOutput's selected pair before its line has a route, and after it
# is closed (never an aioice pair).
_UNROUTED = object()


_CLOSED = object()


# The attribute of an RTCDtlsTransport that holds (pair, DatagramRoute | None).
_ROUTE = "_groupsession_route"


def on_sender_started(
    sender: RTCRtpSender, callback: Callable[[RTCRtpSendParameters], None]
) -> None:
    """Call ``callback`` once aiortc has started ``sender`` (transport connected, negotiated)."""
    target: Any = sender
    original: Callable[[RTCRtpSendParameters], Awaitable[None]] = target.send

    async def send(parameters: RTCRtpSendParameters) -> None:
        await original(parameters)
        callback(parameters)

    target.send = send


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Route a PLI/FIR the remote peer sends about ``sender`` to ``callback``.

    aiortc's own handling only flags its encoder, which a forwarding sender
    never has.
    """
    target: Any = sender
    target._send_keyframe = callback


# Sender reports per compound packet: 16 SRs (28 bytes each) and their SDES
# chunks stay well inside one datagram whatever the CNAME length.
_REPORTS_PER_COMPOUND = 16


def take_over_sender_reports(sender: RTCRtpSender) -> None:
    """Stop ``sender`` from sending its own RTCP: ``send_sender_reports`` sends its SRs.

    aiortc runs one RTCP loop per sender, each waking up about once a second
    to send one SR and one SDES in a packet of its own. A subscribe
    connection carries up to 28 forwarding senders, so that is 28 timers,
    28 SRTCP packets and 28 sends a second per subscriber; one compound
    packet for all of them (RFC 8108 section 5.3) carries the same reports.
    What ``stop()`` still expects of the loop is kept: it signals that it
    started, and on cancellation says BYE for the sender's SSRC and signals
    that it ended.
    """
    target: Any = sender

    async def run_rtcp() -> None:
        target._RTCRtpSender__rtcp_started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.get_running_loop().create_future()  # until stop() cancels it
        try:
            await target._send_rtcp([RtcpByePacket(sources=[target._ssrc])])
        finally:
            target._RTCRtpSender__rtcp_exited.set()

    target._run_rtcp = run_rtcp


async def send_sender_reports(senders: list[RTCRtpSender]) -> int:
    """Send an SR (and SDES CNAME) for each of ``senders``, all on one DTLS transport.

    The reports are what aiortc's own loop would send, grouped into as few
    compound packets as fit; each sender's ``__lsr`` is set as aiortc's loop
    sets it, so its RTT keeps being measured. Returns the number of packets
    sent; raises ConnectionError if the transport is closed.
    """
    transport: Any = None
    reports: list[tuple[RtcpSrPacket, RtcpSourceInfo | None]] = []
    now = time.time()
    for sender in senders:
        target: Any = sender
        ntp_timestamp: int = target._RTCRtpSender__ntp_timestamp
        report = RtcpSrPacket(
            ssrc=target._ssrc,
            sender_info=RtcpSenderInfo(
                ntp_timestamp=ntp_timestamp,
                rtp_timestamp=target._RTCRtpSender__rtp_timestamp,
                packet_count=target._RTCRtpSender__packet_count & 0xFFFFFFFF,
                octet_count=target._RTCRtpSender__octet_count & 0xFFFFFFFF,
            ),
        )
        target._RTCRtpSender__lsr = (ntp_timestamp >> 16) & 0xFFFFFFFF
        target._RTCRtpSender__lsr_time = now
        cname: str | None = target._RTCRtpSender__cname
        chunk = (
            None
            if cname is None
            else RtcpSourceInfo(ssrc=target._ssrc, items=[(1, cname.encode("utf8"))])
        )
        reports.append((report, chunk))
        transport = sender.transport
    sent = 0
    for start in range(0, len(reports), _REPORTS_PER_COMPOUND):
        group = reports[start : start + _REPORTS_PER_COMPOUND]
        payload = b"".join(bytes(report) for report, _ in group)
        chunks = [chunk for _, chunk in group if chunk is not None]
        if chunks:
            payload += bytes(RtcpSdesPacket(chunks=chunks))
        await transport._send_rtp(payload)
        sent += 1
    return sent


def label_forwarded_track(sender: RTCRtpSender, stream_id: str, track_id: str) -> None:
    """Set the ``a=msid`` the next offer announces for ``sender``."""
    sender._stream_id = stream_id
    sender._track_id = track_id


def sender_ssrc(sender: RTCRtpSender) -> int:
    ssrc: int = sender._ssrc
    return ssrc


def encoder_of(sender: RTCRtpSender) -> object | None:
    """The sender's encoder, if aiortc ever created one (for tests and diagnostics)."""
    target: Any = sender
    encoder: object | None = target._RTCRtpSender__encoder
    return encoder


class ForwardingOutput:
    """Sends already-encoded RTP through a started RTCRtpSender as if it had produced it.

    Each copy is written, kept for the subscriber's NACKs (answered wrapped in
    RTX when negotiated), protected and sent by the slot's ``CopySender``: the
    sender's own ``_retransmit`` is replaced, since aiortc's history holds
    RtpPacket objects this path never builds. The sender's SR counters are
    kept true (to within 0.1 s) so the subscriber's RTT and lip-sync stay right.

    The ``CopySender`` is given the route ``RTCDtlsTransport._send_rtp`` takes
    through four coroutine layers, as a ``DatagramRoute`` every slot of the
    connection shares: the DTLS transport's SRTP session (``_tx_srtp``:
    libsrtp's ``srtp_protect`` and the session's ``srtp_t``) and the selected
    ICE pair's socket and address. A new route is made when aioice selects
    another pair. A pair through a TURN relay takes aiortc's own path.
    """

    __slots__ = (
        "_direct",
        "_dtls",
        "_extension_map",
        "_line",
        "_nominated",
        "_pair",
        "_reported_ntp",
        "_rtx_payload_type",
        "_rtx_sequence_number",
        "_rtx_ssrc",
        "_sender",
        "extension_ids",
        "header_size",
        "payload_type",
        "retransmitted",
        "ssrc",
    )

    def __init__(self, sender: RTCRtpSender, parameters: RTCRtpSendParameters) -> None:
        target: Any = sender
        self._sender: Any = target
        self._dtls: Any = target.transport
        # aioice's selected pair per component: the dict lives as long as the connection.
        self._nominated: dict[int, Any] = self._dtls.transport._connection._nominated
        self.ssrc: int = sender._ssrc
        codec = parameters.codecs[0]
        if codec.payloadType is None:
            raise ValueError("negotiated codec has no payload type")
        self.payload_type: int = codec.payloadType
        ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
        self.extension_ids = ExtensionIds(
            mid=ids.get(_MID_URI),
            abs_send_time=ids.get(_ABS_SEND_TIME_URI),
            audio_level=ids.get(_AUDIO_LEVEL_URI),
        )
        self._line = self.extension_ids.copy_sender(self.ssrc, self.payload_type, parameters.muxId)
        # The largest header this slot writes: a copy fits MAX_COPY if its payload
        # leaves this much room (read once per copy, so a plain attribute).
        self.header_size: int = self._line.header_size
        # The selected pair the line follows (_UNROUTED: none yet), and whether
        # its copies go through the connection's route or aiortc's own path.
        self._pair: Any = _UNROUTED
        self._direct = False
        self._extension_map = HeaderExtensionsMap()
        self._extension_map.configure(parameters)
        self._rtx_payload_type: int | None = next(
            (
                c.payloadType
                for c in parameters.codecs
                if c.mimeType.lower().endswith("/rtx")
                and c.parameters.get("apt") == self.payload_type
            ),
            None,
        )
        self._rtx_ssrc: int = target._rtx_ssrc
        self._rtx_sequence_number = random.randrange(0x8000)
        self.retransmitted = 0
        self._reported_ntp = 0
        target._retransmit = self._retransmit

    @property
    def bytes_sent(self) -> int:
        """RTP bytes forwarded through this sender (before SRTP)."""
        return self._line.bytes_sent

    def is_connected(self) -> bool:
        state: str = self._sender.transport.state
        return state == "connected"

    def send_copy(
        self,
        copies: PacketCopies,
        sequence_number: int,
        timestamp: int,
        report_ntp: int,
        report_rtp: int,
        picture_id_adjust: int = 0,
    ) -> int:
        """Write this slot's copy of a packet, keep it for NACKs and send it; its size.

        ``report_ntp``/``report_rtp`` are the next SR's clock pair.
        ``picture_id_adjust`` is added to this copy's VP8 picture id only (a
        late packet placed before pictures the leg has since dropped). Sends
        without yielding when it can, and otherwise through aiortc's own path
        as a task of its own. Raises ConnectionError once the transport is closed.
        """
        if self._dtls._state is not _DTLS_CONNECTED:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        if self._pair is not self._nominated.get(1):
            self._reroute()
        line = self._line
        # The adjusted call is the rare one (late packets while temporal layers
        # are dropped): the common call keeps its three arguments.
        if self._direct:
            if picture_id_adjust:
                size = line.send(copies, sequence_number, timestamp, picture_id_adjust)
            else:
                size = line.send(copies, sequence_number, timestamp)
        else:
            if picture_id_adjust:
                data = line.write(copies, sequence_number, timestamp, picture_id_adjust)
            else:
                data = line.write(copies, sequence_number, timestamp)
            run_soon(self.send_later(data))
            size = len(data)
        if report_ntp - self._reported_ntp >= _SR_UPDATE_INTERVAL_NTP:
            # aiortc reads these when it builds an SR (every 0.5-1.5 s); setting
            # them ten times a second rather than per packet is as true for it.
            sender = self._sender
            sender._RTCRtpSender__ntp_timestamp = report_ntp
            sender._RTCRtpSender__rtp_timestamp = report_rtp
            sender._RTCRtpSender__octet_count = line.payload_octets
            sender._RTCRtpSender__packet_count = line.packets
            self._reported_ntp = report_ntp
        return size

    def use_transport_sequence(
        self, sequence: TransportSequence, extension_id: int, video: bool
    ) -> None:
        """Number every copy from now on in the connection's transport-wide sequence."""
        self._line.use_transport_sequence(sequence, extension_id, video)
        self.header_size = self._line.header_size

    def continue_vp8(self, copies: PacketCopies) -> None:
        """From this copy on, VP8 picture ids, TL0PICIDX and KEYIDX continue the slot's line."""
        self._line.continue_vp8(copies)

    def skip_picture(self) -> None:
        """A picture was not forwarded: the next one takes its picture id."""
        self._line.skip_picture()

    async def send_later(self, data: bytes) -> None:
        """Send a packet ``send_copy`` accounted for but could not send: aiortc's own path."""
        await self._dtls._send_rtp(data)

    def close(self) -> None:
        """Stop sending, and let go of the connection's route (its duplicate socket) now.

        Only ever called when the whole subscribe connection closes, so the
        route every slot of it shares can go too.
        """
        self._pair = _CLOSED
        self._direct = False
        self._line.detach()
        cached = getattr(self._dtls, _ROUTE, None)
        if cached is not None:
            if cached[1] is not None:
                cached[1].close()
            setattr(self._dtls, _ROUTE, None)

    def _reroute(self) -> None:
        """Follow aioice's selected pair: send through its route, or through aiortc's path."""
        if self._pair is _CLOSED:
            raise ConnectionError("the forwarding output is closed")
        pair = self._nominated.get(1)
        self._pair = pair
        route = _connection_route(self._dtls, pair)
        if route is None:
            self._line.detach()
            self._direct = False
        else:
            self._line.attach(route)
            self._direct = True

    async def _retransmit(self, sequence_number: int) -> None:
        data = self._line.kept(sequence_number)
        if data is None:
            return
        self.retransmitted += 1
        if self._rtx_payload_type is not None:
            packet = RtpPacket.parse(data, self._extension_map)
            rtx = wrap_rtx(
                packet,
                payload_type=self._rtx_payload_type,
                sequence_number=self._rtx_sequence_number,
                ssrc=self._rtx_ssrc,
            )
            self._rtx_sequence_number = (self._rtx_sequence_number + 1) & 0xFFFF
            data = rtx.serialize(self._extension_map)
        # ConnectionError: the subscriber is going away. An SRTP failure costs
        # only this retransmission; it must not reach aiortc's RTCP handling.
        with contextlib.suppress(ConnectionError, SrtpError, CopySrtpError):
            if self._dtls._state is not _DTLS_CONNECTED:
                return
            if self._pair is not self._nominated.get(1):
                self._reroute()
            if self._direct:
                self._line.send_packet(data)
            else:
                await self.send_later(data)

    def sender_report_counts(self) -> tuple[int, int, int, int]:
        """(ntp, rtp, packets, octets) the sender's next SR will carry (for tests)."""
        s: Any = self._sender
        return (
            s._RTCRtpSender__ntp_timestamp,
            s._RTCRtpSender__rtp_timestamp,
            s._RTCRtpSender__packet_count,
            s._RTCRtpSender__octet_count,
        )


def _connection_route(dtls: Any, pair: Any) -> DatagramRoute | None:
    """The subscribe connection's route through ``pair``, shared by its slots; None: aiortc's path.

    One per connection (kept on its DTLS transport), not per slot: each holds
    a duplicate descriptor. A route that cannot be made (out of descriptors,
    say) is remembered as None for that pair, so it is tried and logged once.
    """
    if pair is None or type(pair.protocol) is not StunProtocol:
        return None  # not selected yet, or through a TURN relay
    cached: tuple[Any, DatagramRoute | None] | None = getattr(dtls, _ROUTE, None)
    if cached is not None:
        if cached[0] is pair:
            return cached[1]
        if cached[1] is not None:
            # aioice chose another pair: its descriptor goes now. Slots still
            # attached to it follow the new pair before they send again.
            cached[1].close()
    transport: Any = pair.protocol.transport
    sock = transport.get_extra_info("socket")
    if sock is None or transport.is_closing():
        return None
    session: Any = dtls._tx_srtp
    host, port = pair.remote_addr[:2]
    route: DatagramRoute | None
    try:
        route = DatagramRoute(
            fd=sock.fileno(),
            host=host,
            port=port,
            srtp_context=int(srtp_ffi.cast("uintptr_t", session._srtp[0])),
            srtp_protect=srtp_protect_address(),
            srtp_owner=session,
            fallback_sendto=transport.sendto,
            queue=transport._buffer,
        )
    except (OSError, ValueError) as error:
        logger.warning("forwarding through aiortc's own send path: no direct route (%s)", error)
        route = None
    setattr(dtls, _ROUTE, (pair, route))
    return route


def observe_sender_rtcp(
    sender: RTCRtpSender,
    observer: Callable[[ReceiverReport], None],
    on_remb: Callable[[int], None] | None = None,
) -> None:
    """Show ``observer`` every report block the remote peer sends about ``sender``'s stream,
    and ``on_remb`` every REMB naming it (the peer's estimate of its downlink, bits/s)."""
    target: Any = sender
    original: Callable[[AnyRtcpPacket], Awaitable[None]] = target._handle_rtcp_packet

    async def handle(packet: AnyRtcpPacket) -> None:
        if (
            on_remb is not None
            and isinstance(packet, RtcpPsfbPacket)
            and packet.fmt == RTCP_PSFB_APP
        ):
            try:
                bitrate, _ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                pass  # another application's feedback
            else:
                on_remb(bitrate)
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    observer(
                        ReceiverReport(
                            report.highest_sequence,
                            report.packets_lost,
                            report.fraction_lost,
                            report.jitter,
                        )
                    )
        await original(packet)

    target._handle_rtcp_packet = handle


def round_trip_time(sender: RTCRtpSender) -> float | None:
    """aiortc's smoothed RTT (seconds) from the remote peer's reports about ``sender``."""
    target: Any = sender
    rtt: float | None = target._RTCRtpSender__rtt
    return rtt
