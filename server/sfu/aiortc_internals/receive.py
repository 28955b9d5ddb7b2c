"""The receive direction: RTP and RTCP off the socket, the datagram guard on every media
port, receive bookkeeping (statistics, NACK, REMB) and receiver reports.

Part of the aiortc quarantine: every private name used here is listed, and pinned,
in ``server/sfu/aiortc_internals/__init__.py``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aioice.ice import StunProtocol
from aiortc import (
    RTCPeerConnection,
    RTCRtpReceiver,
)
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
)
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    pack_remb_fci,
)
from pylibsrtp import Error as SrtpError

from server.sfu.aiortc_internals.libsrtp import SrtpUnprotector
from server.sfu.background import run_soon
from server.sfu.forwarding_stats import ForwardingStats
from server.sfu.ingress import (
    NACK_WINDOW,
    PATH_MTU,
    UNSIGNALLED_SSRCS_PER_TRACK,
    DropCounts,
    DropReason,
    PublishBudget,
    RateLimitedLog,
    SequenceCheck,
)
from server.sfu.rates import WindowRate
from server.sfu.reports import ReceiveCounts
from signaling.media import SIMULCAST_RIDS

logger = logging.getLogger(__name__)

_DTLS_CONNECTED = DtlsState.CONNECTED


RtpPacketHandler = Callable[[RtpPacket, int], Awaitable[None]]


DirectRtpHandler = Callable[[RtpPacket, int], None]


# Milliseconds between the NTP epoch (1900) and the Unix epoch: aiortc's arrival
# stamps (clock.current_ms) count from 1900.
_NTP_UNIX_OFFSET_MS = 2208988800 * 1000


# The attribute of an RTCRtpReceiver that holds its direct (synchronous) RTP handler.
_DIRECT_HANDLER = "_groupsession_direct_rtp"


# RemoteBitrateEstimator's incoming bitrate window (RateCounter(1000, 8000)).
_INCOMING_BITRATE_WINDOW_MS = 1000


def intercept_received_rtp(
    receiver: RTCRtpReceiver, handler: RtpPacketHandler, *, then_aiortc: bool = True
) -> None:
    """Run ``handler`` on every RTP packet routed to ``receiver``, before aiortc sees it.

    With ``then_aiortc`` the original handler runs afterwards, which keeps
    aiortc's upstream NACKs, REMB and receive statistics working.
    """
    target: Any = receiver
    original: RtpPacketHandler = target._handle_rtp_packet

    if then_aiortc:

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            await handler(packet, arrival_time_ms)
            await original(packet, arrival_time_ms)

        target._handle_rtp_packet = handle
    else:
        target._handle_rtp_packet = handler


def intercept_received_rtcp(
    receiver: RTCRtpReceiver, observer: Callable[[AnyRtcpPacket], None]
) -> None:
    """Show ``observer`` every RTCP packet routed to ``receiver`` (sender reports)."""
    target: Any = receiver
    original: Callable[[AnyRtcpPacket], Awaitable[None]] = target._handle_rtcp_packet

    async def handle(packet: AnyRtcpPacket) -> None:
        observer(packet)
        await original(packet)

    target._handle_rtcp_packet = handle


def run_without_decoder(
    receiver: RTCRtpReceiver, on_started: Callable[[RTCRtpReceiveParameters], None]
) -> None:
    """Stop the decoder thread aiortc starts in ``receive()``, before any packet arrives.

    ``receive()`` registers the receiver with the transport and starts the
    thread without awaiting anything, so stopping the thread right after it
    returns happens before the first RTP packet can be routed here. The
    thread's decoder is created lazily on its first frame, so none ever is;
    the remote track's queue receives one end-of-stream marker and nothing
    else (no unbounded growth, aiortc #554). ``on_started`` gets the
    negotiated receive parameters (codecs, RTX SSRCs).
    """
    target: Any = receiver
    original: Callable[[RTCRtpReceiveParameters], Awaitable[None]] = target.receive

    async def receive(parameters: RTCRtpReceiveParameters) -> None:
        await original(parameters)
        target._RTCRtpReceiver__stop_decoder()
        note_negotiated_ssrcs(receiver, parameters)
        on_started(parameters)

    target.receive = receive


def receive_rtp_directly(receiver: RTCRtpReceiver, handler: DirectRtpHandler) -> None:
    """Hand ``receiver``'s RTP packets to ``handler`` as they come off the socket.

    aiortc queues every datagram in aioice's ``Connection`` and wakes the DTLS
    transport's receive task for it, which unprotects, parses and routes it
    through four awaited layers. Once ``receive()`` has run (the DTLS
    transport is connected), the transport's ``DatagramGuard`` (installed on
    the ICE connection's sockets, ``StunProtocol.datagram_received``) takes
    every SRTP packet that is not RTCP: it is checked, unprotected with the
    transport's ``_rx_srtp`` session, parsed, routed by the transport's
    ``_rtp_router`` and handed to ``handler`` right there, with the
    transport's receive counters kept. Only SSRCs the receiver negotiated
    (media and RTX; a bounded few if it signalled none) get that far.
    Everything else (STUN, DTLS, SRTCP) takes aioice's and aiortc's usual
    path, and so does RTP through a TURN relay: ``handler`` must also run
    from the receiver's ``_handle_rtp_packet`` (see ``intercept_received_rtp``).
    """
    target: Any = receiver
    setattr(target, _DIRECT_HANDLER, handler)
    original: Callable[[RTCRtpReceiveParameters], Awaitable[None]] = target.receive

    async def receive(parameters: RTCRtpReceiveParameters) -> None:
        await original(parameters)
        dtls = receiver.transport
        if dtls is not None:
            _guard_of(dtls).allow(receiver, parameters)

    target.receive = receive


# Unknown SSRCs a guard unprotects, per layer SSRC still to learn, looking for a rid.
_SIMULCAST_TRIES_PER_SLOT = 2


# The attribute of an RTCRtpReceiver that names the simulcast rids it receives.
_SIMULCAST_RIDS = "_groupsession_simulcast_rids"


def expect_simulcast(receiver: RTCRtpReceiver, rids: tuple[str, ...]) -> None:
    """``receiver`` gets the layers ``rids`` on SSRCs it never signalled (Chrome sends no
    ``a=ssrc`` for rid simulcast): its transport's guard learns each layer's media and
    RTX SSRC from the first packet carrying the section's mid and the rid (or repaired
    rid), one of each per rid. Call before ``receive()``."""
    setattr(receiver, _SIMULCAST_RIDS, tuple(rids))


class _SimulcastSection:
    """What a guard may still learn of one simulcast section: per rid, a media and an RTX SSRC."""

    __slots__ = ("media", "receiver", "rids", "rtx")

    def __init__(self, receiver: RTCRtpReceiver, rids: tuple[str, ...]) -> None:
        self.receiver = receiver
        self.rids = frozenset(rids)
        self.media: set[str] = set()  # rids whose media SSRC was learnt
        self.rtx: set[str] = set()

    def open_slots(self) -> int:
        return 2 * len(self.rids) - len(self.media) - len(self.rtx)


# The attribute of an RTCDtlsTransport that holds its DatagramGuard.
_GUARD = "_groupsession_guard"


# RFC 7983's demultiplexing of the first byte.
_STUN_FIRST_BYTES = range(0, 4)


_DTLS_FIRST_BYTES = range(20, 64)


_RTP_FIRST_BYTES = range(128, 192)


# What RTCDtlsTransport._recv_next takes for SRTCP (aiortc.rtp.is_rtcp): the
# second byte (payload type) 192-208.
_RTCP_SECOND_BYTES = range(192, 209)


# Shorter than this cannot be SRTP (12-byte header, 10-byte auth tag) or
# SRTCP (8-byte header, 4-byte index, tag).
_MIN_SRTP_SIZE = 22


RefusedPacket = Callable[[DropReason, Exception], None]


def guard_media_ports(
    pc: RTCPeerConnection,
    drops: DropCounts,
    *,
    budget: PublishBudget | None = None,
    on_refused: RefusedPacket | None = None,
) -> None:
    """Put a ``DatagramGuard`` in front of every transport of ``pc`` (again: reconfigure it).

    Call once ICE has gathered (after ``setLocalDescription``), when the
    connection's sockets exist.
    """
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls is not None:
            _guard_of(dtls).configure(drops, budget, on_refused)


def _guard_of(dtls: Any) -> DatagramGuard:
    guard: DatagramGuard | None = getattr(dtls, _GUARD, None)
    if guard is None:
        guard = DatagramGuard(dtls)
        setattr(dtls, _GUARD, guard)
    guard.install()
    return guard


class DatagramGuard:
    """What a transport's sockets accept, checked before aioice, aiortc or libsrtp see it.

    aiortc's DTLS receive loop ends for good on an exception it does not
    expect (pylibsrtp's ValueError for a datagram longer than its buffer,
    struct.error from a header extension of the wrong size...), and libsrtp,
    aiortc's router, statistics and REMB map each keep state per SSRC they
    are shown. So every datagram is checked here, by its first bytes, in
    this order: no longer than the path MTU; STUN goes to aioice (it checks
    connectivity checks itself); once ICE has selected a pair, anything else
    only from that pair's remote address (or another candidate pair's);
    within the publish connection's
    budget; DTLS and SRTCP go on to aiortc; SRTP only with an SSRC read from
    its clear header that was negotiated (so libsrtp never makes a stream for
    another). Whatever is dropped is counted by reason, and no exception from
    parsing or handling a packet leaves this hook.

    Installed on the instance of each of the ICE connection's
    ``StunProtocol``s (asyncio looks ``datagram_received`` up there); RTP
    through a TURN relay arrives through aioice and aiortc's own path.
    """

    __slots__ = (
        "_budget",
        "_connection",
        "_drops",
        "_dtls",
        "_extensions",
        "_hooked",
        "_loop",
        "_on_refused",
        "_router",
        "_rtp_path_guarded",
        "_sequences",
        "_simulcast",
        "_simulcast_tried",
        "_ssrcs",
        "_unprotector",
        "_unsignalled_granted",
        "_unsignalled_left",
    )

    def __init__(self, dtls: Any) -> None:
        self._dtls = dtls
        self._connection: Any = dtls.transport._connection
        self._router = dtls._rtp_router
        self._extensions = dtls._rtp_header_extensions_map
        self._drops = DropCounts()  # until the plane gives its own (configure)
        self._budget: PublishBudget | None = None
        self._on_refused: RefusedPacket | None = None
        self._unprotector: SrtpUnprotector | None = None
        self._ssrcs: set[int] = set()
        # Sequence validation per accepted SSRC, before and after unprotecting.
        self._sequences: dict[int, SequenceCheck] = {}
        self._unsignalled_left = 0
        self._unsignalled_granted: set[int] = set()  # id() of receivers given their allowance
        # Simulcast sections by mid: their layers' SSRCs are learnt from mid and rid.
        self._simulcast: dict[str, _SimulcastSection] = {}
        # Unknown SSRCs unprotected to look for a layer's rid (bounded, see _may_learn_layer).
        self._simulcast_tried: set[int] = set()
        self._hooked: set[int] = set()
        self._rtp_path_guarded = False
        self._loop = asyncio.get_running_loop()

    def configure(
        self, drops: DropCounts, budget: PublishBudget | None, on_refused: RefusedPacket | None
    ) -> None:
        self._drops = drops
        self._budget = budget
        self._on_refused = on_refused

    def allow(self, receiver: RTCRtpReceiver, parameters: RTCRtpReceiveParameters) -> None:
        """Accept the SSRCs a receiver negotiated (media and RTX), or a few if it signalled none.

        Called on every (re)negotiation: a receiver is given its few
        unsignalled SSRCs once, however often its publisher renegotiates.
        """
        rids: tuple[str, ...] = getattr(receiver, _SIMULCAST_RIDS, ())
        if rids and parameters.muxId and not parameters.encodings:
            if parameters.muxId not in self._simulcast:
                self._simulcast[parameters.muxId] = _SimulcastSection(receiver, rids)
            return
        signalled = 0
        for encoding in parameters.encodings:
            if encoding.ssrc is not None:
                self._ssrcs.add(encoding.ssrc)
                signalled += 1
            if encoding.rtx is not None and encoding.rtx.ssrc is not None:
                self._ssrcs.add(encoding.rtx.ssrc)
        if not signalled and id(receiver) not in self._unsignalled_granted:
            self._unsignalled_granted.add(id(receiver))
            self._unsignalled_left += UNSIGNALLED_SSRCS_PER_TRACK

    def highest_sequence(self, ssrc: int) -> int | None:
        """The highest authenticated sequence number on ``ssrc`` (for tests and diagnostics)."""
        check = self._sequences.get(ssrc)
        return None if check is None else check.highest

    def unsignalled_allowance(self) -> int:
        """How many SSRCs no receiver signalled this transport may still learn (for tests)."""
        return self._unsignalled_left

    def accepted_ssrcs(self) -> int:
        """How many SSRCs this transport accepts (for tests: bounded whatever is sent)."""
        return len(self._ssrcs)

    def install(self) -> None:
        if not self._rtp_path_guarded:
            self._rtp_path_guarded = True
            self._guard_aiortc_rtp_path()
        for protocol in self._connection._protocols:
            if type(protocol) is not StunProtocol or id(protocol) in self._hooked:
                continue  # a TURN relay's data arrives wrapped; or already guarded
            self._hooked.add(id(protocol))
            target: Any = protocol
            original: Callable[[bytes, tuple[Any, ...]], None] = target.datagram_received

            def datagram_received(
                data: bytes,
                addr: tuple[Any, ...],
                original: Callable[[bytes, tuple[Any, ...]], None] = original,
            ) -> None:
                self.datagram_received(data, addr, original)

            target.datagram_received = datagram_received

    def _guard_aiortc_rtp_path(self) -> None:
        """RTP that takes aiortc's own path (through a TURN relay) is guarded too.

        ``_recv_next`` looks ``_handle_rtp_data`` up on the instance; aiortc
        catches only ValueError from parsing (not ``struct.error``) and
        nothing from the handler, either of which would end the transport.
        """
        dtls = self._dtls
        original: Callable[[bytes, int], Awaitable[None]] = dtls._handle_rtp_data

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            try:
                await original(data, arrival_time_ms)
            except Exception as error:  # one bad packet must not end the receive loop
                self._refuse(DropReason.HANDLER_ERROR, error)

        dtls._handle_rtp_data = handle_rtp_data

    def datagram_received(
        self, data: bytes, addr: tuple[Any, ...], original: Callable[[bytes, tuple[Any, ...]], None]
    ) -> None:
        size = len(data)
        drops = self._drops
        if size > PATH_MTU:
            drops.drop(DropReason.OVERSIZE)
            return
        first = data[0] if size else -1
        if first in _STUN_FIRST_BYTES:
            original(data, addr)
            return
        pair = self._connection._nominated.get(1)
        if pair is not None and not self._from_known_peer(pair, addr):
            drops.drop(DropReason.WRONG_SOURCE)
            return
        budget = self._budget
        if budget is not None and not budget.admit(size):
            drops.drop(DropReason.OVER_BUDGET)
            return
        if first in _DTLS_FIRST_BYTES:
            original(data, addr)
        elif first in _RTP_FIRST_BYTES and size >= _MIN_SRTP_SIZE:
            if data[1] in _RTCP_SECOND_BYTES:
                original(data, addr)
            else:
                self._receive_rtp(data)
        else:
            drops.drop(DropReason.NOT_MEDIA)

    def _from_known_peer(self, selected: Any, addr: tuple[Any, ...]) -> bool:
        """Whether ``addr`` is the selected pair's remote end, or another pair's of this session.

        The peer may send DTLS and media on any pair it has found valid, not
        only the one this side selected (aioice does while nominations
        settle, and its view of which checks succeeded can be ahead of this
        side's). Every pair's remote end was either signalled by the
        participant (SDP, trickled candidates over her authenticated
        signaling connection) or learnt from a connectivity check carrying
        this session's ICE credentials; an unrelated source is neither.
        """
        host, port = addr[0], addr[1]
        remote = selected.remote_addr
        if remote[1] == port and remote[0] == host:
            return True
        return any(pair.remote_addr == (host, port) for pair in self._connection._check_list)

    def _receive_rtp(self, data: bytes) -> None:
        dtls = self._dtls
        ssrc = int.from_bytes(data[8:12], "big")
        learning = ssrc not in self._ssrcs
        if learning and self._unsignalled_left <= 0 and not self._may_learn_layer(ssrc):
            self._drops.drop(DropReason.UNKNOWN_SSRC)
            return
        seq = (data[2] << 8) | data[3]
        check = self._sequences.get(ssrc)
        if check is not None and not check.admits(seq):
            self._drops.drop(DropReason.SEQUENCE_JUMP)
            return
        if dtls._state is not _DTLS_CONNECTED or dtls._rx_srtp is None:
            self._drops.drop(DropReason.UNPROTECT)  # no keys yet, or closed: as aiortc
            return
        unprotector = self._unprotector
        if unprotector is None:
            unprotector = self._unprotector = SrtpUnprotector(dtls._rx_srtp)
        dtls._RTCDtlsTransport__rx_bytes += len(data)
        dtls._RTCDtlsTransport__rx_packets += 1
        arrival_time_ms = int(time.time() * 1000) + _NTP_UNIX_OFFSET_MS
        try:
            clear = unprotector.unprotect(data)
        except (SrtpError, ValueError):
            self._drops.drop(DropReason.UNPROTECT)  # unauthenticated or replayed
            return
        try:
            packet = RtpPacket.parse(clear, self._extensions)
        except Exception as error:  # struct.error, ValueError, IndexError...
            self._refuse(DropReason.MALFORMED, error)
            return
        if learning and not self._learn_layer(packet):
            if self._unsignalled_left <= 0:
                self._drops.drop(DropReason.UNKNOWN_SSRC)
                return
            receiver = self._router.route_rtp(packet)
            if receiver is None:
                self._drops.drop(DropReason.UNKNOWN_SSRC)
                return
            self._ssrcs.add(ssrc)
            self._unsignalled_left -= 1
        else:
            receiver = self._router.route_rtp(packet)
            if receiver is None:
                self._drops.drop(DropReason.UNKNOWN_SSRC)
                return
        if check is None:
            check = self._sequences[ssrc] = SequenceCheck()
        check.check(seq)  # authenticated: the stream's numbering moves
        handler: DirectRtpHandler | None = getattr(receiver, _DIRECT_HANDLER, None)
        try:
            if handler is not None:
                handler(packet, arrival_time_ms)
            else:
                run_soon(
                    receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms), self._loop
                )
        except Exception as error:  # one bad packet must not end the receive path
            self._refuse(DropReason.HANDLER_ERROR, error)

    def _may_learn_layer(self, ssrc: int) -> bool:
        """Whether an unknown SSRC may be unprotected to see if it names a simulcast layer.

        libsrtp keeps a stream for every SSRC whose packet authenticates, so the
        SSRCs tried are bounded too (a few per layer still to learn), not only
        those learnt: a publisher sending on ever new SSRCs without a rid would
        otherwise grow libsrtp's state without end.
        """
        if not any(section.open_slots() for section in self._simulcast.values()):
            return False
        tried = self._simulcast_tried
        if ssrc in tried:
            return True
        if len(tried) >= _SIMULCAST_TRIES_PER_SLOT * 2 * len(SIMULCAST_RIDS) * len(self._simulcast):
            return False
        tried.add(ssrc)
        return True

    def _learn_layer(self, packet: RtpPacket) -> bool:
        """Admit ``packet``'s SSRC if it names a simulcast section's mid and one of its rids
        (media) or repaired rids (RTX) not learnt yet; True if admitted.

        aiortc's router matches an unknown SSRC by payload type only, which
        fails when two video sections share VP8 (a camera and a screen): the
        SSRC is entered in its table for the section's receiver by mid, as
        BUNDLE says (RFC 8843 section 9.2).
        """
        extensions = packet.extensions
        section = self._simulcast.get(extensions.mid) if extensions.mid else None
        if section is None:
            return False
        rid = extensions.rtp_stream_id
        if rid is not None:
            learnt = section.media
        else:
            rid = extensions.repaired_rtp_stream_id
            learnt = section.rtx
        if rid not in section.rids or rid in learnt:
            return False
        learnt.add(rid)
        self._ssrcs.add(packet.ssrc)
        self._router.ssrc_table[packet.ssrc] = section.receiver
        return True

    def _refuse(self, reason: DropReason, error: Exception) -> None:
        self._drops.drop(reason)
        if self._on_refused is not None:
            self._on_refused(reason, error)


def receives_directly(receiver: RTCRtpReceiver) -> bool:
    """Whether ``receiver``'s RTP comes straight off the socket (for tests and diagnostics)."""
    return getattr(receiver.transport, _GUARD, None) is not None


def guard_of(receiver: RTCRtpReceiver) -> DatagramGuard | None:
    """The guard in front of ``receiver``'s transport (for tests and diagnostics)."""
    guard: DatagramGuard | None = getattr(receiver.transport, _GUARD, None)
    return guard


def decoder_thread(receiver: RTCRtpReceiver) -> threading.Thread | None:
    """The receiver's decoder thread, if one is running (for tests and diagnostics)."""
    target: Any = receiver
    thread: threading.Thread | None = target._RTCRtpReceiver__decoder_thread
    return thread


async def request_keyframe(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Send a Picture Loss Indication for ``media_ssrc`` to the remote sender."""
    await receiver._send_rtcp_pli(media_ssrc)


# RFC 3550's report count is five bits: at most 31 report blocks per RR.
_BLOCKS_PER_RR = 31


# Report blocks per interval, over every RR: a publisher negotiates a handful
# of SSRCs (media and RTX per track); anything past this is a peer inventing
# SSRCs, and reporting on all of them would cost without bound.
_MAX_REPORT_BLOCKS = 2 * _BLOCKS_PER_RR


_UINT32 = 0xFFFFFFFF


# packets_lost is a signed 24-bit field (RFC 3550 section 6.4.1).
_LOST_MIN = -0x800000


_LOST_MAX = 0x7FFFFF


# NACKs for many losses go out as several packets of at most this many
# sequence numbers (aiortc packs them all into one, which past about 330
# losses 16 or more apart SRTCP refuses), and only the last of aiortc's sorted
# list are asked for: a sender keeps a few hundred packets, no more.
_NACKS_PER_PACKET = 128
_MAX_NACKED = 4 * _NACKS_PER_PACKET


def _report_block(ssrc: int, stream: StreamStatistics, lsr: int, dlsr: int) -> RtcpReceiverInfo:
    """One RR block from aiortc's statistics, every field saturated into its wire range.

    aiortc packs its raw figures: a timestamp swinging by 2**32 makes the
    jitter exceed 32 bits, and the block (and its whole report) fails to pack.
    """
    return RtcpReceiverInfo(
        ssrc=ssrc & _UINT32,
        fraction_lost=min(max(stream.fraction_lost, 0), 0xFF),
        packets_lost=min(max(stream.packets_lost, _LOST_MIN), _LOST_MAX),
        highest_sequence=(stream.max_seq or 0) & _UINT32,
        jitter=min(max(stream.jitter, 0), _UINT32),
        lsr=lsr & _UINT32,
        dlsr=min(max(dlsr, 0), _UINT32),
    )


def receiver_report_packets(
    rtcp_ssrc: int,
    streams: dict[int, StreamStatistics],
    lsr: dict[int, int],
    lsr_time: dict[int, float],
    negotiated: frozenset[int],
    now: float,
) -> list[bytes]:
    """The RRs aiortc's receiver would send, built within RTCP's bounds.

    At most 31 blocks per packet (the count field), at most
    ``_MAX_REPORT_BLOCKS`` in all, negotiated SSRCs first: each packet then
    fits pylibsrtp's buffer (aiortc put every SSRC in one packet, which past
    56 SSRCs SRTCP refuses, and past 255 cannot even be packed).
    """
    ordered = sorted(streams, key=lambda ssrc: ssrc not in negotiated)[:_MAX_REPORT_BLOCKS]
    blocks = []
    for ssrc in ordered:
        stream = streams[ssrc]
        if stream.max_seq is None:
            continue
        dlsr = 0
        if ssrc in lsr:
            delay = now - lsr_time[ssrc]
            if 0 < delay < 65536:
                dlsr = int(delay * 65536)
        blocks.append(_report_block(ssrc, stream, lsr.get(ssrc, 0), dlsr))
    return [
        bytes(RtcpRrPacket(ssrc=rtcp_ssrc, reports=blocks[start : start + _BLOCKS_PER_RR]))
        for start in range(0, len(blocks), _BLOCKS_PER_RR)
    ]


def take_over_receiver_reports(receiver: RTCRtpReceiver, stats: ForwardingStats) -> None:
    """Replace ``receiver``'s RTCP loop by one that cannot die on what a peer sends.

    aiortc's loop (``_run_rtcp``, started by ``receive()`` and looked up on
    the instance) ends on the first report that fails to pack or protect,
    without setting ``__rtcp_exited``, so ``stop()`` and ``pc.close()`` then
    wait forever. This one sends the same reports, bounded
    (``receiver_report_packets``), counts and skips a round that fails, and
    always signals its exit. The receiver's ``_send_rtcp`` (NACK, PLI, REMB)
    is bounded the same way: many losses are NACKed in several packets, and
    a packet that cannot be built or protected is counted and dropped rather
    than raised in the task that sends it. Must run before ``receive()``.
    """
    target: Any = receiver
    log = RateLimitedLog(time.monotonic)

    async def send_rtcp(packet: AnyRtcpPacket) -> None:
        for part in _bounded_nacks(packet):
            try:
                await target.transport._send_rtp(bytes(part))
            except ConnectionError:
                return  # not connected (yet, or any more): as aiortc's _send_rtcp
            except Exception as error:  # a peer's figures must not end the sending task
                stats.rtcp_send_failed += 1
                if log.ready():
                    logger.warning("RTCP not sent: %s", type(error).__name__)

    async def run_rtcp() -> None:
        target._RTCRtpReceiver__rtcp_started.set()
        try:
            while True:
                await asyncio.sleep(0.5 + random.random())
                rtcp_ssrc: int | None = target._RTCRtpReceiver__rtcp_ssrc
                if rtcp_ssrc is None:
                    continue
                try:
                    packets = receiver_report_packets(
                        rtcp_ssrc,
                        target._RTCRtpReceiver__remote_streams,
                        target._RTCRtpReceiver__lsr,
                        target._RTCRtpReceiver__lsr_time,
                        target._groupsession_negotiated_ssrcs,
                        time.time(),
                    )
                    for packet in packets:
                        await target.transport._send_rtp(packet)
                except ConnectionError:
                    continue  # not connected (yet, or any more): as aiortc's _send_rtcp
                except Exception as error:  # a peer's figures must never end the loop
                    stats.rtcp_send_failed += 1
                    if log.ready():
                        logger.warning("receiver report skipped: %s", type(error).__name__)
        except asyncio.CancelledError:
            pass
        finally:
            target._RTCRtpReceiver__rtcp_exited.set()

    target._groupsession_negotiated_ssrcs = frozenset()
    target._run_rtcp = run_rtcp
    target._send_rtcp = send_rtcp


def _bounded_nacks(packet: AnyRtcpPacket) -> list[AnyRtcpPacket]:
    """``packet``, or a NACK for many losses as several, for the most recent ones only."""
    if not isinstance(packet, RtcpRtpfbPacket) or len(packet.lost) <= _NACKS_PER_PACKET:
        return [packet]
    lost = packet.lost[-_MAX_NACKED:]
    return [
        RtcpRtpfbPacket(
            fmt=packet.fmt,
            ssrc=packet.ssrc,
            media_ssrc=packet.media_ssrc,
            lost=lost[start : start + _NACKS_PER_PACKET],
        )
        for start in range(0, len(lost), _NACKS_PER_PACKET)
    ]


def note_negotiated_ssrcs(receiver: RTCRtpReceiver, parameters: RTCRtpReceiveParameters) -> None:
    """Tell ``receiver``'s report loop which SSRCs were negotiated (reported first)."""
    ssrcs = set()
    for encoding in parameters.encodings:
        if encoding.ssrc is not None:
            ssrcs.add(encoding.ssrc)
        if encoding.rtx is not None and encoding.rtx.ssrc is not None:
            ssrcs.add(encoding.rtx.ssrc)
    target: Any = receiver
    target._groupsession_negotiated_ssrcs = frozenset(ssrcs)


# The attribute of an RTCDtlsTransport set once its received RTCP is guarded.
_RTCP_GUARDED = "_groupsession_rtcp_guarded"
_FEEDBACK_OBSERVER = "_groupsession_transport_feedback"


def _remb_is_consistent(packet: AnyRtcpPacket) -> bool:
    """False for a REMB whose SSRC count claims more than its FCI carries (or less)."""
    if not isinstance(packet, RtcpPsfbPacket) or packet.fmt != RTCP_PSFB_APP:
        return True
    fci = packet.fci
    if len(fci) < 8 or fci[0:4] != b"REMB":
        return True  # not a REMB: aiortc ignores other application feedback
    return len(fci) == 8 + 4 * fci[4]


def guard_received_rtcp(transport: Any, stats: ForwardingStats) -> None:
    """Make ``transport``'s received RTCP unable to end its receive loop.

    aiortc's ``RTCDtlsTransport._handle_rtcp_data`` (looked up on the
    instance by ``_recv_next``) catches only the ``ValueError`` of parsing:
    its router raises ``struct.error`` on a REMB claiming more SSRCs than it
    carries, and any handler's exception ends the DTLS transport's task with
    a traceback, closing the connection. This parses and routes the same
    way, drops (and counts) a packet whose lengths lie or that any step
    fails on, and goes on with the next. Idempotent; ``None`` is ignored.
    """
    if transport is None or getattr(transport, _RTCP_GUARDED, False):
        return
    router = transport._rtp_router
    log = RateLimitedLog(time.monotonic)

    def dropped(error: BaseException | None) -> None:
        stats.rtcp_dropped += 1
        if log.ready():
            reason = "inconsistent lengths" if error is None else type(error).__name__
            logger.warning("received RTCP dropped: %s", reason)

    async def handle_rtcp_data(data: bytes) -> None:
        feedback: Callable[[bytes], None] | None = getattr(transport, _FEEDBACK_OBSERVER, None)
        if feedback is not None:
            try:
                feedback(data)
            except Exception as error:
                dropped(error)
        try:
            packets = RtcpPacket.parse(data)
        except Exception as error:
            dropped(error)
            return
        for packet in packets:
            if not _remb_is_consistent(packet):
                dropped(None)
                continue
            try:
                recipients = router.route_rtcp(packet)
                for recipient in recipients:
                    await recipient._handle_rtcp_packet(packet)
            except ConnectionError:
                raise  # the transport closing: aiortc's receive loop ends on it, as before
            except Exception as error:
                dropped(error)

    transport._handle_rtcp_data = handle_rtcp_data
    setattr(transport, _RTCP_GUARDED, True)


def observe_transport_feedback(transport: Any, observer: Callable[[bytes], None]) -> None:
    """Show ``observer`` every compound RTCP packet ``transport`` receives, decrypted.

    aiortc parses transport-wide feedback (RTPFB, FMT 15) as if it were a NACK
    and drops its fields; the subscription reads it from the raw compound
    (``server/sfu/transport_cc.py``). Relies on ``guard_received_rtcp`` having
    replaced the transport's ``_handle_rtcp_data``, which calls the observer
    first (an observer that raises only has that packet counted as dropped).
    """
    if not getattr(transport, _RTCP_GUARDED, False):
        raise RuntimeError("guard_received_rtcp must be installed on the transport first")
    setattr(transport, _FEEDBACK_OBSERVER, observer)


class ReceiveBookkeeping:
    """What aiortc's receive handler does for a forwarded track, minus the decoding side.

    aiortc's ``_handle_rtp_packet`` also depayloads every packet and
    reassembles frames in a jitter buffer for a decoder this plane never
    runs; that was a third of the server's time per received packet. This
    keeps the parts the publisher relies on: receive statistics (aiortc's RTCP
    task reads them for its receiver reports), NACKs for missing video
    packets, and REMB from the bitrate estimator.
    """

    __slots__ = (
        "_carried",
        "_codecs",
        "_estimator",
        "_nacks",
        "_nacks_by_ssrc",
        "_receiver",
        "_remb_floor_bps",
        "_streams",
        "_target",
    )

    def __init__(self, receiver: RTCRtpReceiver, remb_floor_bps: int = 0) -> None:
        target: Any = receiver
        # The least REMB tells the publisher (see PublishedTrack: a simulcast camera).
        self._remb_floor_bps = remb_floor_bps
        self._receiver = receiver
        self._target = target
        self._codecs: dict[int, RTCRtpCodecParameters] = target._RTCRtpReceiver__codecs
        self._streams: dict[int, StreamStatistics] = target._RTCRtpReceiver__remote_streams
        self._nacks: NackGenerator | None = target._RTCRtpReceiver__nack_generator
        self._estimator: RemoteBitrateEstimator | None = (
            target._RTCRtpReceiver__remote_bitrate_estimator
        )
        if self._estimator is not None:
            self._estimator.incoming_bitrate = WindowRate(_INCOMING_BITRATE_WINDOW_MS)
        # (expected, received) of streams that restarted their numbering.
        self._carried: dict[int, tuple[int, int]] = {}
        # aiortc keeps one NACK generator per receiver, for one media SSRC; a
        # simulcast track has one per layer (the first layer uses aiortc's).
        # Bounded by the SSRCs the track admits (PublishedTrack).
        self._nacks_by_ssrc: dict[int, NackGenerator] = {}

    def _nacks_for(self, ssrc: int) -> NackGenerator | None:
        nacks = self._nacks_by_ssrc.get(ssrc)
        if nacks is None:
            if self._nacks is None:
                return None
            nacks = self._nacks if not self._nacks_by_ssrc else NackGenerator()
            self._nacks_by_ssrc[ssrc] = nacks
        return nacks

    def observe(self, packet: RtpPacket, arrival_time_ms: int, media: RtpPacket | None) -> None:
        """Account for ``packet`` as received; ``media``: it unwrapped from RTX (None: unusable).

        Synchronous: a REMB or NACK it sends runs as a task of its own.
        """
        estimator = self._estimator
        if estimator is not None and packet.extensions.abs_send_time is not None:
            remb = estimator.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            rtcp_ssrc = self._target._RTCRtpReceiver__rtcp_ssrc
            if rtcp_ssrc is not None and remb is not None:
                if remb[0] < self._remb_floor_bps:
                    remb = (self._remb_floor_bps, remb[1])
                run_soon(
                    self._target._send_rtcp(
                        RtcpPsfbPacket(
                            fmt=RTCP_PSFB_APP,
                            ssrc=rtcp_ssrc,
                            media_ssrc=0,
                            fci=pack_remb_fci(*remb),
                        )
                    )
                )
        stream = self._streams.get(packet.ssrc)
        if stream is None:
            codec = self._codecs.get(packet.payload_type)
            if codec is None:
                return
            stream = self._streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stream.add(packet)
        if media is None:
            return
        nacks = self._nacks_for(media.ssrc)
        if nacks is not None:
            last = nacks.max_seq
            if last is not None and NACK_WINDOW < (media.sequence_number - last) & 0xFFFF < 0x8000:
                # aiortc walks every number of a gap (and then forgets all but
                # its last RTP_HISTORY_SIZE): a wide gap starts NACKs afresh.
                nacks.max_seq = None
                nacks.missing.clear()
            if nacks.add(media):
                run_soon(self._target._send_rtcp_nack(media.ssrc, sorted(nacks.missing)))

    def restart(self, ssrc: int) -> None:
        """The stream on ``ssrc`` restarted its numbering: statistics and NACKs start again.

        Its counts so far are carried over, so ``counts`` only ever grows.
        """
        stream = self._streams.pop(ssrc, None)
        if stream is not None and stream.max_seq is not None:
            expected, received = self._carried.get(ssrc, (0, 0))
            self._carried[ssrc] = (
                expected + stream.packets_expected,
                received + stream.packets_received,
            )
        nacks = self._nacks_by_ssrc.get(ssrc)
        if nacks is not None:
            nacks.max_seq = None
            nacks.missing.clear()

    def stream_count(self) -> int:
        """SSRC-keyed entries kept: statistics and the bitrate estimator's (for tests)."""
        estimator: Any = self._estimator
        ssrcs: dict[int, Any] = {} if estimator is None else estimator.ssrcs
        return len(self._streams) + len(ssrcs)

    def counts(self, ssrc: int) -> ReceiveCounts | None:
        """Packets expected and received so far on ``ssrc``, and the interarrival jitter."""
        stream = self._streams.get(ssrc)
        if stream is None or stream.max_seq is None:
            return None
        expected, received = self._carried.get(ssrc, (0, 0))
        return ReceiveCounts(
            expected=expected + stream.packets_expected,
            received=received + stream.packets_received,
            jitter_s=stream.jitter / stream._clockrate,
        )
