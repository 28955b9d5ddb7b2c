"""Every use of aiortc below its public API lives in this package, and only here.

aiortc has no public API for forwarding media without decoding it (its
maintainer declined one: aiortc issues #449, #544, #627), so an RTP-level SFU
has to reach into private methods and name-mangled fields of aiortc. Doing
that in one place keeps the blast radius of an upgrade small: pyproject pins
aiortc==1.16.0, and tests/server/sfu/test_aiortc_internals.py checks every
name, signature and behaviour relied on here so that an upgrade fails loudly
in CI instead of silently in a session.

The package is split by direction: ``receive`` (RTP and RTCP off the
socket, the datagram guard on every media port, receive bookkeeping and
receiver reports), ``send`` (forwarding outputs and their routes, sender
reports, what a subscriber's PLI, FIR and NACK reach), ``negotiation``
(codecs in answers, ICE candidates, the selected pair, bounded closes) and
``libsrtp`` (the ABI the C copy sender calls, unprotecting by hand) and
``ice`` (the server's host candidates: an announced address, a port range;
pairing with browsers whose candidates give none). The
rest of the media plane imports this package, never its modules.

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
  ``_handle_rtcp_packet``, as aiortc does. It shows the decrypted compound
  to a subscription's transport-wide feedback reader first
  (``observe_transport_feedback``): aiortc parses that feedback as a NACK
  and keeps none of it.
* A subscribe offer aiortc wrote is completed in text with transport-wide
  congestion control (``server/sfu/transport_cc.py``) before
  ``setLocalDescription``, which keeps the extmap and rtcp-fb lines it
  parsed; aiortc never writes those packets itself (the C copy sender
  does), so its negotiated parameters need not name the extension.
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
* Simulcast: ``RTCRtpTransceiver._headerExtensions`` (what the answer's
  extmaps and the receive parameters are made from) gains rid and repaired
  rid with the offer's ids (``accept_simulcast``); the guard enters each
  layer's SSRC, learnt from mid and rid, in the router's ``ssrc_table``
  (aiortc's ``route_rtp`` matches unknown SSRCs by payload type only, not by
  mid), and reads ``HeaderExtensions.mid``/``rtp_stream_id``/
  ``repaired_rtp_stream_id`` as ``HeaderExtensionsMap`` parses them.
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

from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket, RtpPacket, unwrap_rtx
from aiortc.sdp import SessionDescription as ParsedSessionDescription
from aiortc.sdp import candidate_from_sdp
from pylibsrtp._binding import ffi as srtp_ffi

from server.sfu.aiortc_internals.ice import IcePolicy, NoFreeMediaPort, install_ice_policy
from server.sfu.aiortc_internals.libsrtp import (
    IncompatibleLibsrtp,
    SrtpUnprotector,
    check_libsrtp_abi,
    libsrtp_version,
    srtp_protect_address,
)
from server.sfu.aiortc_internals.negotiation import (
    accept_simulcast,
    close_within,
    parse_ice_candidate,
    restrict_negotiated_codecs,
    selected_candidate_types,
)
from server.sfu.aiortc_internals.receive import (
    DatagramGuard,
    ReceiveBookkeeping,
    decoder_thread,
    expect_simulcast,
    guard_media_ports,
    guard_of,
    guard_received_rtcp,
    intercept_received_rtcp,
    intercept_received_rtp,
    note_negotiated_ssrcs,
    observe_transport_feedback,
    receive_rtp_directly,
    receiver_report_packets,
    receives_directly,
    request_keyframe,
    run_without_decoder,
    take_over_receiver_reports,
)
from server.sfu.aiortc_internals.send import (
    ForwardingOutput,
    encoder_of,
    label_forwarded_track,
    observe_sender_rtcp,
    on_keyframe_request,
    on_sender_started,
    round_trip_time,
    send_sender_reports,
    sender_ssrc,
    take_over_sender_reports,
)

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
    "SrtpUnprotector",
    "accept_simulcast",
    "candidate_from_sdp",
    "check_libsrtp_abi",
    "close_within",
    "decoder_thread",
    "encoder_of",
    "expect_simulcast",
    "guard_media_ports",
    "guard_of",
    "guard_received_rtcp",
    "install_ice_policy",
    "intercept_received_rtcp",
    "intercept_received_rtp",
    "label_forwarded_track",
    "libsrtp_version",
    "note_negotiated_ssrcs",
    "observe_sender_rtcp",
    "observe_transport_feedback",
    "on_keyframe_request",
    "on_sender_started",
    "parse_ice_candidate",
    "receive_rtp_directly",
    "receiver_report_packets",
    "receives_directly",
    "request_keyframe",
    "restrict_negotiated_codecs",
    "round_trip_time",
    "run_without_decoder",
    "selected_candidate_types",
    "send_sender_reports",
    "sender_ssrc",
    "srtp_ffi",
    "srtp_protect_address",
    "take_over_receiver_reports",
    "take_over_sender_reports",
    "unwrap_rtx",
]
