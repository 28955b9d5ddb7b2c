"""Every use of aiortc below its public API lives in this module, and only here.

aiortc has no public API for forwarding media without decoding it (its
maintainer declined one: aiortc issues #449, #544, #627), so an RTP-level SFU
has to reach into private methods and name-mangled fields of aiortc. Doing
that in one place keeps the blast radius of an upgrade small: pyproject pins
aiortc==1.16.0, and tests/server/sfu/test_aiortc_internals.py checks every
name, signature and behaviour relied on here so that an upgrade fails loudly
in CI instead of silently in a session.

What is relied on (aiortc 1.16.0):

* ``RTCRtpReceiver._handle_rtp_packet(packet, arrival_time_ms)`` and
  ``_handle_rtcp_packet(packet)`` are looked up on the instance by the DTLS
  transport's router, so an instance attribute intercepts them.
* ``RTCRtpReceiver.receive()`` starts a decoder thread, stopped again by the
  private ``__stop_decoder()``; the decoder itself is only built when the
  first encoded frame reaches the thread, so stopping it straight away means
  no decoder ever exists. ``_send_rtcp_pli(ssrc)`` sends a PLI upstream.
* ``RTCRtpSender.send(parameters)`` is called once, when the DTLS transport
  is connected and the transceiver negotiated to send; after it the sender's
  RTCP task runs and reads its private SR counters (``__ntp_timestamp``,
  ``__rtp_timestamp``, ``__packet_count``, ``__octet_count``).
* ``RTCRtpSender._send_keyframe()`` is what a subscriber's PLI/FIR reaches.
* ``RTCRtpSender.send()`` starts ``self._run_rtcp()`` (looked up on the
  instance), whose start and end ``stop()`` waits for through the private
  ``__rtcp_started`` and ``__rtcp_exited`` events; its reports carry
  ``__cname`` and set ``__lsr``/``__lsr_time``, from which the sender's
  ``_handle_rtcp_packet`` computes RTT when a receiver report echoes them.
* ``RTCRtpSender._ssrc``, ``_stream_id`` and ``_track_id`` end up in the SDP
  (``a=ssrc``, ``a=msid``).
* ``RTCRtpTransceiver._codecs`` is the negotiated codec list a local answer
  is built from.
* ``RTCDtlsTransport._send_rtp(data)`` protects and sends one RTP packet;
  the forwarding path does the same by hand with its ``_state``,
  ``_tx_srtp`` and its ICE transport's aioice ``Connection._nominated`` pair
  (``protocol.transport``, ``remote_addr``), for plain UDP pairs only:
  the pair's socket, address and SRTP session go to the C ``CopySender``
  (``server/sfu/_copy_sender.c``), which sends straight to the socket
  while asyncio's datagram transport has nothing queued (its ``_buffer``)
  and hands the datagram to the transport's ``sendto`` otherwise.
* ``RTCRtpSender._retransmit(seq)`` is looked up on the instance when a NACK
  arrives, and so is ``_handle_rtcp_packet`` by the transport's router;
  ``_rtx_ssrc`` is the sender's RTX SSRC and ``__rtt`` its smoothed RTT.
* ``RTCRtpReceiver``'s private ``__codecs``, ``__remote_streams``
  (``StreamStatistics`` per SSRC, read by its RTCP task for receiver
  reports), ``__nack_generator``, ``__remote_bitrate_estimator`` and
  ``__rtcp_ssrc``, with ``_send_rtcp`` and ``_send_rtcp_nack``: the parts of
  its receive handler a forwarded track still needs.
* aioice's ``CandidatePair.local_candidate``/``remote_candidate`` ``.type``
  for the selected pair's candidate types.
* ``RTCRtpReceiver._run_rtcp`` is looked up on the instance by ``receive()``
  (which starts it as ``__rtcp_task``); ``stop()`` waits on the private
  ``__rtcp_started`` and ``__rtcp_exited`` events. Its replacement reads
  ``__remote_streams``, ``__lsr``, ``__lsr_time`` and ``__rtcp_ssrc`` as
  aiortc's loop does, and sends through ``transport._send_rtp``; so does
  the receiver's ``_send_rtcp``, replaced per instance (``_send_rtcp_nack``,
  ``_send_rtcp_pli`` and ReceiveBookkeeping's REMB look it up on ``self``).
* ``RTCDtlsTransport._handle_rtcp_data(data)`` is looked up on the instance
  by ``_recv_next``; its replacement parses with ``RtcpPacket.parse``,
  routes with ``_rtp_router.route_rtcp`` and calls each recipient's
  ``_handle_rtcp_packet``, as aiortc does.
* For a close that must be forced: ``RTCRtpSender``'s private
  ``__rtp_task``/``__rtcp_task`` and their ``__*_started``/``__*_exited``
  events (what ``stop()`` awaits), the DTLS transport's ``_task``, and
  aioice's ``Connection._protocols`` (each a ``StunProtocol`` with its
  asyncio ``transport``).
* The receive path's guard (``DatagramGuard``): aioice's
  ``StunProtocol.datagram_received`` (looked up on the instance by asyncio)
  on each of ``Connection._protocols``, ``Connection._nominated[1]``'s
  ``remote_addr``, and the ``remote_addr`` of every pair in
  ``Connection._check_list`` (the peer may send on any of them);
  the DTLS transport's ``_state``, ``_rx_srtp``, ``_rtp_router``
  (``route_rtp``, which learns an SSRC routed by mid or payload type),
  ``_rtp_header_extensions_map`` and private
  ``__rx_bytes``/``__rx_packets``; ``RTCRtpReceiveParameters.encodings``'
  ``ssrc`` and ``rtx.ssrc``. aiortc's ``_recv_next`` ends the transport on
  any exception but pylibsrtp's ``Error`` (a datagram over pylibsrtp's
  1,500-byte buffer raises ValueError), so nothing it cannot take reaches it;
  its ``_handle_rtp_data`` (looked up on the instance) is wrapped so that
  RTP through a TURN relay cannot raise into it either.
* ``NackGenerator.max_seq``/``missing`` (reset on a wide gap: its ``add``
  walks every number of a gap) and ``RemoteBitrateEstimator.ssrcs``.
* pylibsrtp (aiortc's SRTP binding): ``Session._srtp``, ``_cdata`` and
  ``_buffer``, which ``SrtpUnprotector`` uses as ``Session.unprotect``
  does; its cffi ``lib.srtp_protect`` is libsrtp 2's
  ``srtp_protect(srtp_t, void *, int *)``, which ``CopySender`` calls.
  Nothing but a test would notice a pylibsrtp built on libsrtp 3 (another
  ``srtp_protect``), so ``check_libsrtp_abi`` runs at import: the library
  pylibsrtp bundles must say it is libsrtp 2 (its exported
  ``srtp_get_version``) and the binding must declare that signature.
* ICE (``install_ice_policy``; aioice pinned to 0.13.0 as well):
  ``RTCPeerConnection``'s private ``__createDtlsTransport`` (looked up on the
  instance by ``self.__createDtlsTransport()``), whose transport's
  ``transport.iceGatherer._connection`` is the aioice ``Connection``;
  ``RTCIceGatherer.gather`` awaits its ``gather_candidates()``.
* aioice's ``Connection.get_component_candidates(component, addresses,
  timeout)``, looked up on the instance by ``gather_candidates``; host
  candidates as it makes them (a ``StunProtocol`` per socket with its
  ``local_candidate``, appended to ``_protocols``; ``candidate_foundation``,
  ``candidate_priority``, ``turn.UDP_SOCKET_BUFFER_SIZE``), and its
  ``stun_server``/``turn_server``.
* ``Connection.add_remote_candidate`` (aiortc's ``addRemoteCandidate`` calls
  it on the instance) and ``mdns.is_mdns_hostname``.
* ``Connection._end_remote_candidates``, ``_prune_components``,
  ``_remote_candidates_expected`` and ``_check_list_maybe_fail``, each looked
  up on ``self``: end-of-candidates prunes components without candidates and
  checks for failure; ``connect()``'s loop (``_check_periodic``) and the
  failure check go on while more candidates are expected; ``check_incoming``
  pairs a peer-reflexive candidate. Read: ``_closing``, ``_check_list_done``,
  ``_nominated``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aioice import mdns as aioice_mdns
from aioice import turn as aioice_turn
from aioice.candidate import Candidate as AioiceCandidate
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import StunProtocol
from aiortc import (
    RTCIceCandidate,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
    wrap_rtx,
)
from aiortc.sdp import SessionDescription as ParsedSessionDescription
from aiortc.sdp import candidate_from_sdp
from pylibsrtp import ERRORS as SRTP_ERRORS
from pylibsrtp import Error as SrtpError
from pylibsrtp import _binding as srtp_binding
from pylibsrtp._binding import ffi as srtp_ffi
from pylibsrtp._binding import lib as srtp_lib

from server.sfu.background import run_soon
from server.sfu.copy_sender import DatagramRoute, ExtensionIds, PacketCopies
from server.sfu.copy_sender import SrtpError as CopySrtpError
from server.sfu.forwarding_stats import ForwardingStats
from server.sfu.ingress import (
    NACK_WINDOW,
    PATH_MTU,
    UNSIGNALLED_SSRCS_PER_TRACK,
    DropCounts,
    DropReason,
    PublishBudget,
    SequenceCheck,
)
from server.sfu.rates import WindowRate
from server.sfu.reports import ReceiveCounts, ReceiverReport

__all__ = [
    "AnyRtcpPacket",
    "DatagramGuard",
    "ForwardingOutput",
    "IcePolicy",
    "IncompatibleLibsrtp",
    "NoFreeMediaPort",
    "ParsedSessionDescription",
    "ReceiveBookkeeping",
    "RtcpSrPacket",
    "RtpPacket",
    "candidate_from_sdp",
    "check_libsrtp_abi",
    "close_within",
    "decoder_thread",
    "encoder_of",
    "guard_media_ports",
    "guard_of",
    "guard_received_rtcp",
    "install_ice_policy",
    "intercept_received_rtcp",
    "intercept_received_rtp",
    "label_forwarded_track",
    "observe_sender_rtcp",
    "on_keyframe_request",
    "on_sender_started",
    "parse_ice_candidate",
    "receive_rtp_directly",
    "receives_directly",
    "request_keyframe",
    "restrict_negotiated_codecs",
    "round_trip_time",
    "run_without_decoder",
    "selected_candidate_types",
    "send_sender_reports",
    "take_over_receiver_reports",
    "take_over_sender_reports",
    "unwrap_rtx",
]

RtpPacketHandler = Callable[[RtpPacket, int], Awaitable[None]]
DirectRtpHandler = Callable[[RtpPacket, int], None]

logger = logging.getLogger(__name__)

_DTLS_CONNECTED = DtlsState.CONNECTED
# How often a forwarding sender's SR counters are brought up to date: 0.1 s in
# 32.32 fixed-point NTP units.
_SR_UPDATE_INTERVAL_NTP = (1 << 32) // 10
_MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
_ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
_AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
# Milliseconds between the NTP epoch (1900) and the Unix epoch: aiortc's arrival
# stamps (clock.current_ms) count from 1900.
_NTP_UNIX_OFFSET_MS = 2208988800 * 1000
# The attribute of an RTCRtpReceiver that holds its direct (synchronous) RTP handler.
_DIRECT_HANDLER = "_groupsession_direct_rtp"
# RemoteBitrateEstimator's incoming bitrate window (RateCounter(1000, 8000)).
_INCOMING_BITRATE_WINDOW_MS = 1000
# A ForwardingOutput's selected pair before its line has a route, and after it
# is closed (never an aioice pair).
_UNROUTED = object()
_CLOSED = object()
# The attribute of an RTCDtlsTransport that holds (pair, DatagramRoute | None).
_ROUTE = "_groupsession_route"

# What CopySender's cast of srtp_protect assumes (libsrtp 2's signature, as
# pylibsrtp's cffi binding declares it).
_LIBSRTP_MAJOR = 2
_SRTP_PROTECT_SIGNATURE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"


class IncompatibleLibsrtp(RuntimeError):
    """pylibsrtp's libsrtp is not the libsrtp 2 the C copy sender was written against."""


def check_libsrtp_abi(version: int, protect_signature: str) -> None:
    """Refuse a libsrtp whose ``srtp_protect`` the C copy sender would call wrongly.

    ``version`` is ``srtp_get_version()`` (major << 24 | minor << 16 | micro);
    ``protect_signature`` is the binding's declared C type of ``srtp_protect``.
    libsrtp 3 changed that function's arguments: called through libsrtp 2's
    signature it would write past the packet's buffer.
    """
    major = (version >> 24) & 0xFF
    if major != _LIBSRTP_MAJOR:
        found = f"{major}.{(version >> 16) & 0xFF}.{version & 0xFFFF}"
        raise IncompatibleLibsrtp(
            f"pylibsrtp is built on libsrtp {found}; groupsession's C copy sender needs"
            f" libsrtp {_LIBSRTP_MAJOR}.x (install the pylibsrtp version pyproject.toml pins)"
        )
    if protect_signature != _SRTP_PROTECT_SIGNATURE:
        raise IncompatibleLibsrtp(
            f"pylibsrtp declares srtp_protect as {protect_signature!r}; groupsession's C copy"
            f" sender calls it as {_SRTP_PROTECT_SIGNATURE!r}"
        )


def libsrtp_version() -> int:
    """``srtp_get_version()`` of the libsrtp inside pylibsrtp's binding (exported by it)."""
    library = ctypes.CDLL(srtp_binding.__file__)
    get_version = library.srtp_get_version
    get_version.restype = ctypes.c_uint
    get_version.argtypes = []
    version: int = get_version()
    return version


check_libsrtp_abi(libsrtp_version(), srtp_ffi.typeof(srtp_lib.srtp_protect).cname)


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
        if learning and self._unsignalled_left <= 0:
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
        receiver = self._router.route_rtp(packet)
        if receiver is None:
            self._drops.drop(DropReason.UNKNOWN_SSRC)
            return
        if learning:
            self._ssrcs.add(ssrc)
            self._unsignalled_left -= 1
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


def restrict_negotiated_codecs(
    transceiver: RTCRtpTransceiver, keep: Callable[[RTCRtpCodecParameters], bool]
) -> None:
    """Drop codecs from a transceiver's negotiated list before the local answer is made.

    aiortc applies setCodecPreferences() only to transceivers that exist
    before setRemoteDescription(); a publisher's transceivers are created by
    it, so the negotiated list is filtered afterwards instead. RTX entries
    whose ``apt`` no longer refers to a kept codec are dropped too.
    """
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    kept = [c for c in codecs if c.mimeType.lower() != f"{transceiver.kind}/rtx" and keep(c)]
    kept_types = {c.payloadType for c in kept}
    for codec in codecs:
        if (
            codec.mimeType.lower() == f"{transceiver.kind}/rtx"
            and codec.parameters.get("apt") in kept_types
        ):
            kept.append(codec)
    transceiver._codecs = kept


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
# A fault on a peer's RTCP is logged at most this often per connection or receiver.
_FAULT_LOG_INTERVAL_S = 60.0


class _RateLimitedLog:
    """At most one warning per interval, for one connection or receiver."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: float | None = None

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if self._last is None or now - self._last >= _FAULT_LOG_INTERVAL_S:
            self._last = now
            logger.warning(message, *args)


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
    log = _RateLimitedLog()

    async def send_rtcp(packet: AnyRtcpPacket) -> None:
        for part in _bounded_nacks(packet):
            try:
                await target.transport._send_rtp(bytes(part))
            except ConnectionError:
                return  # not connected (yet, or any more): as aiortc's _send_rtcp
            except Exception as error:  # a peer's figures must not end the sending task
                stats.rtcp_send_failed += 1
                log.warning("RTCP not sent: %s", type(error).__name__)

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
                    log.warning("receiver report skipped: %s", type(error).__name__)
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
    log = _RateLimitedLog()

    def dropped(error: BaseException | None) -> None:
        stats.rtcp_dropped += 1
        reason = "inconsistent lengths" if error is None else type(error).__name__
        log.warning("received RTCP dropped: %s", reason)

    async def handle_rtcp_data(data: bytes) -> None:
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


async def close_within(pc: RTCPeerConnection, timeout_s: float) -> bool:
    """Close ``pc``, returning within about ``timeout_s``; True if it had to be forced.

    ``pc.close()`` stops every sender and receiver, each awaiting events its
    background tasks set when they end; a task that died without setting
    them (aiortc's RTCP loops on a bad report, say) makes it wait forever.
    Past the bound, every such event is set and every task cancelled, which
    lets the close finish, and the ICE sockets are closed at once, so nothing
    a dead task holds keeps a port. The close then finishes in the
    background; it is never cancelled half-way. A slow close on a loaded
    machine that is forced loses nothing: it was about to do the same.
    """
    closing = asyncio.ensure_future(pc.close())
    done, _ = await asyncio.wait({closing}, timeout=timeout_s)
    if done:
        closing.result()
        return False
    for transceiver in pc.getTransceivers():
        _release_tasks(transceiver.receiver, "_RTCRtpReceiver", ("rtcp",))
        _release_tasks(transceiver.sender, "_RTCRtpSender", ("rtp", "rtcp"))
        dtls: Any = transceiver.receiver.transport
        if dtls is not None:
            if dtls._task is not None:
                dtls._task.cancel()
            for protocol in dtls.transport._connection._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()
    run_soon(_finish_close(closing))
    return True


async def _finish_close(closing: asyncio.Future[None]) -> None:
    """Wait for a forced close to end (run_soon keeps it referenced meanwhile)."""
    try:
        await closing
    except Exception as error:  # the connection is gone either way
        logger.warning("a forced peer-connection close ended with %s", type(error).__name__)


def _release_tasks(owner: object, prefix: str, names: tuple[str, ...]) -> None:
    """Cancel ``owner``'s background tasks and set the start/exit events its stop() awaits."""
    target: Any = owner
    for name in names:
        task: asyncio.Future[None] | None = getattr(target, f"{prefix}__{name}_task", None)
        if task is not None:
            task.cancel()
        for event in ("started", "exited"):
            flag: asyncio.Event | None = getattr(target, f"{prefix}__{name}_{event}", None)
            if flag is not None:
                flag.set()


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


def parse_ice_candidate(candidate: str, sdp_mid: str | None, sdp_mline_index: int | None) -> Any:
    """Parse a browser's ``candidate:...`` string into an RTCIceCandidate."""
    try:
        parsed: RTCIceCandidate = candidate_from_sdp(candidate.removeprefix("candidate:"))
    except (AssertionError, IndexError, ValueError) as exc:
        # aiortc validates the field count with a bare assert.
        raise ValueError(f"not an ICE candidate: {candidate!r}") from exc
    parsed.sdpMid = sdp_mid
    parsed.sdpMLineIndex = sdp_mline_index
    return parsed


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
    ) -> int:
        """Write this slot's copy of a packet, keep it for NACKs and send it; its size.

        ``report_ntp``/``report_rtp`` are the next SR's clock pair. Sends
        without yielding when it can, and otherwise through aiortc's own path
        as a task of its own. Raises ConnectionError once the transport is closed.
        """
        if self._dtls._state is not _DTLS_CONNECTED:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        if self._pair is not self._nominated.get(1):
            self._reroute()
        line = self._line
        if self._direct:
            size = line.send(copies, sequence_number, timestamp)
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


def srtp_protect_address() -> int:
    """The address of libsrtp's ``srtp_protect`` in pylibsrtp's binding (for ``CopySender``)."""
    return int(srtp_ffi.cast("uintptr_t", srtp_ffi.addressof(srtp_lib, "srtp_protect")))


class SrtpUnprotector:
    """``pylibsrtp.Session.unprotect`` without its wrapper's per-call checks and indirection.

    Session.unprotect copies the packet into the session's 1500-byte C buffer
    (``_cdata``, seen through ``_buffer``), calls ``srtp_unprotect`` on
    ``_srtp[0]`` and copies the result out; this does exactly that, with the
    length cell allocated once. It is run once per received packet.
    """

    __slots__ = ("_buffer", "_capacity", "_cdata", "_length", "_session", "_srtp")

    def __init__(self, session: Any) -> None:
        self._session = session  # keeps the C context (freed by ffi.gc) alive
        self._srtp = session._srtp[0]
        self._cdata = session._cdata
        self._buffer = session._buffer
        self._capacity = len(self._cdata)
        self._length = srtp_ffi.new("int *")

    def unprotect(self, data: bytes) -> bytes:
        size = len(data)
        if size > self._capacity:
            raise ValueError("packet is too long")
        length = self._length
        length[0] = size
        self._buffer[0:size] = data
        status = srtp_lib.srtp_unprotect(self._srtp, self._cdata, length)
        if status != srtp_lib.srtp_err_status_ok:
            raise SrtpError(SRTP_ERRORS[status])
        result: bytes = self._buffer[0 : length[0]]
        return result


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
        "_receiver",
        "_streams",
        "_target",
    )

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        target: Any = receiver
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
        nacks = self._nacks
        if media is not None and nacks is not None:
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
        if self._nacks is not None:
            self._nacks.max_seq = None
            self._nacks.missing.clear()

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


def observe_sender_rtcp(sender: RTCRtpSender, observer: Callable[[ReceiverReport], None]) -> None:
    """Show ``observer`` every report block the remote peer sends about ``sender``'s stream."""
    target: Any = sender
    original: Callable[[AnyRtcpPacket], Awaitable[None]] = target._handle_rtcp_packet

    async def handle(packet: AnyRtcpPacket) -> None:
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


def selected_candidate_types(pc: RTCPeerConnection) -> tuple[str, str] | None:
    """(local, remote) ICE candidate types of ``pc``'s selected pair, if one is selected.

    aiortc exposes no selected pair; aioice keeps the nominated pair per
    component in ``Connection._nominated``.
    """
    for transceiver in pc.getTransceivers():
        dtls: Any = transceiver.sender.transport or transceiver.receiver.transport
        if dtls is None:
            continue
        pair = dtls.transport._connection._nominated.get(1)
        if pair is not None:
            return (pair.local_candidate.type, pair.remote_candidate.type)
    return None


# -- ICE: candidates, NAT, mDNS ----------------------------------------------------
#
# aiortc builds one aioice ``Connection`` per transport, in the peer connection's
# private ``__createDtlsTransport``, and gathers when the local description is set.
# ``install_ice_policy`` wraps that method on the instance, so each Connection is
# adjusted before it gathers: host candidates from sockets bound in a configured
# port range and announced at a configured address, the browser's mDNS candidates
# ignored, and connectivity checks waited for when the browser's candidates gave no
# pair. Each aioice name used here is listed in the module docstring.

# What aioice sets on its own media sockets (``turn.UDP_SOCKET_BUFFER_SIZE``).
_UDP_RECEIVE_BUFFER = aioice_turn.UDP_SOCKET_BUFFER_SIZE


class NoFreeMediaPort(OSError):
    """Every port of the configured media range is taken on an address."""


@dataclass(frozen=True, slots=True)
class IcePolicy:
    """How the server's ICE connections gather and pair candidates.

    :param announced_address: advertised as the host candidates' address in
        place of the machine's own (1:1 NAT: the public address that reaches
        it); the sockets are then bound to the wildcard address of its family,
        one per transport, so whichever interface the NAT delivers to receives.
    :param ports: bind media sockets only within this inclusive UDP range.
    :param wait_for_checks_s: when the browser's candidates give no usable pair
        (mDNS names no server can resolve, or none at all) and it has signalled
        end-of-candidates, keep waiting this long for its connectivity checks,
        which give a peer-reflexive candidate (RFC 8445 section 7.3.1.3).
    """

    announced_address: str | None = None
    ports: tuple[int, int] | None = None
    wait_for_checks_s: float = 10.0


def install_ice_policy(pc: RTCPeerConnection, policy: IcePolicy) -> None:
    """Apply ``policy`` to every ICE connection ``pc`` creates; call before any negotiation."""
    target: Any = pc
    create: Callable[[], Any] = target._RTCPeerConnection__createDtlsTransport

    def create_dtls_transport() -> Any:
        dtls = create()
        _adjust_connection(dtls.transport.iceGatherer._connection, policy)
        return dtls

    target._RTCPeerConnection__createDtlsTransport = create_dtls_transport


def _adjust_connection(connection: Any, policy: IcePolicy) -> None:
    if policy.announced_address is not None or policy.ports is not None:
        original_gather = connection.get_component_candidates

        # aioice's signature, timeout included.
        async def get_component_candidates(
            component: int,
            addresses: list[str],
            timeout: int = 5,  # noqa: ASYNC109
        ) -> list[Any]:
            candidates = await _host_candidates(connection, component, addresses, policy)
            if connection.stun_server or connection.turn_server:
                # Relayed candidates as aioice gathers them; no server-reflexive ones
                # (they need aioice's host sockets; the announced address stands for them).
                candidates += await original_gather(component, [], timeout)
            return candidates

        connection.get_component_candidates = get_component_candidates
    _ignore_mdns_candidates(connection)
    _wait_for_checks(connection, policy.wait_for_checks_s)


async def _host_candidates(
    connection: Any, component: int, addresses: list[str], policy: IcePolicy
) -> list[Any]:
    """Host candidates as aioice's ``get_component_candidates`` makes them, on our sockets."""
    if policy.announced_address is not None:
        wildcard = (
            "::" if ipaddress.ip_address(policy.announced_address).version == 6 else "0.0.0.0"
        )
        binds = [(wildcard, policy.announced_address)]
    else:
        binds = [(address, address) for address in addresses]
    loop = asyncio.get_running_loop()
    candidates = []
    for bind_address, announced in binds:
        sock = _bind_media_socket(bind_address, policy.ports)
        _, protocol = await loop.create_datagram_endpoint(
            lambda: StunProtocol(connection), sock=sock
        )
        port = sock.getsockname()[1]
        protocol.local_candidate = AioiceCandidate(
            foundation=candidate_foundation("host", "udp", announced),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=announced,
            port=port,
            type="host",
        )
        connection._protocols.append(protocol)
        candidates.append(protocol.local_candidate)
    return candidates


def _bind_media_socket(address: str, ports: tuple[int, int] | None) -> socket.socket:
    """A UDP socket on ``address``, on a free port of ``ports`` (from a random start)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_RECEIVE_BUFFER)
        if family == socket.AF_INET6 and address == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setblocking(False)
        if ports is None:
            sock.bind((address, 0))
            return sock
        low, high = ports
        count = high - low + 1
        start = random.randrange(count)  # spreads connections; not a security measure
        for offset in range(count):
            try:
                sock.bind((address, low + (start + offset) % count))
                return sock
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
        raise NoFreeMediaPort(
            errno.EADDRINUSE, f"no free UDP port in {low}-{high} on {address} for media"
        )
    except BaseException:
        sock.close()
        raise


def _ignore_mdns_candidates(connection: Any) -> None:
    """Drop remote candidates named by mDNS (``….local``) before aioice resolves them.

    mDNS answers only on the browser's own link, so a server elsewhere never
    resolves the name; trying binds a multicast socket and waits. The
    browser's checks reach the server anyway and give a peer-reflexive
    candidate for the same address (``_wait_for_checks``).
    """
    add: Callable[[Any], Awaitable[None]] = connection.add_remote_candidate

    async def add_remote_candidate(candidate: Any) -> None:
        if candidate is not None and aioice_mdns.is_mdns_hostname(candidate.host):
            logger.debug("ignoring an mDNS ICE candidate; waiting for the peer's checks")
            return
        await add(candidate)

    connection.add_remote_candidate = add_remote_candidate


def _wait_for_checks(connection: Any, wait_s: float) -> None:
    """After end-of-candidates, keep a Connection open to the peer's checks for ``wait_s``.

    aioice decides at end-of-candidates: a component with no remote candidate
    is pruned (``_prune_components``), and with no pair ``connect()`` fails at
    once ("Components {1} have no candidate pairs"). Instead, until a pair is
    nominated or ``wait_s`` has passed, more candidates count as expected
    (``_remote_candidates_expected``), which keeps ``connect()`` polling and
    ``_check_list_maybe_fail`` from failing; an incoming check meanwhile makes a
    peer-reflexive pair (``check_incoming``) and a triggered check on it. At the
    deadline aioice's own failure check runs again.
    """
    loop = asyncio.get_running_loop()
    deadline: list[float] = []  # set at end-of-candidates
    expected: Callable[[], bool] = connection._remote_candidates_expected
    end: Callable[[], None] = connection._end_remote_candidates

    def remote_candidates_expected() -> bool:
        if expected():
            return True
        return bool(deadline) and not connection._nominated and loop.time() < deadline[0]

    def end_remote_candidates() -> None:
        if not deadline:
            deadline.append(loop.time() + wait_s)
            loop.call_later(wait_s, give_up)
        end()

    def prune_components() -> None:
        # With rtcp-mux there is one component: pruning it leaves nothing to wait for.
        return None

    def give_up() -> None:
        if not connection._closing and not connection._check_list_done:
            connection._check_list_maybe_fail()

    connection._remote_candidates_expected = remote_candidates_expected
    connection._end_remote_candidates = end_remote_candidates
    connection._prune_components = prune_components
