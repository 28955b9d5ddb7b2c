"""Every use of aiortc below its public API lives in this module, and only here.

aiortc has no public API for forwarding media without decoding it (its
maintainer declined one: aiortc issues #449, #544, #627), so an RTP-level SFU
has to reach into private methods and name-mangled fields of aiortc. Doing
that in one place keeps the blast radius of an upgrade small: pyproject pins
aiortc==1.16.0, and tests/server/media/test_aiortc_internals.py checks every
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
  RTCP task runs, and its private ``__rtp_history`` (answering NACKs, with RTX
  when negotiated) and SR counters (``__ntp_timestamp``, ``__rtp_timestamp``,
  ``__packet_count``, ``__octet_count``) are read by aiortc's own code.
* ``RTCRtpSender._send_keyframe()`` is what a subscriber's PLI/FIR reaches.
* ``RTCRtpSender._ssrc``, ``_stream_id`` and ``_track_id`` end up in the SDP
  (``a=ssrc``, ``a=msid``).
* ``RTCRtpTransceiver._codecs`` is the negotiated codec list a local answer
  is built from.
* ``RTCDtlsTransport._send_rtp(data)`` protects and sends one RTP packet.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCIceCandidate, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import (
    RTP_HISTORY_SIZE,
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpSrPacket,
    RtpPacket,
    unwrap_rtx,
)
from aiortc.sdp import SessionDescription as ParsedSessionDescription
from aiortc.sdp import candidate_from_sdp

__all__ = [
    "AnyRtcpPacket",
    "ForwardingOutput",
    "ParsedSessionDescription",
    "RtcpSrPacket",
    "RtpPacket",
    "candidate_from_sdp",
    "decoder_thread",
    "encoder_of",
    "intercept_received_rtcp",
    "intercept_received_rtp",
    "label_forwarded_track",
    "on_keyframe_request",
    "on_sender_started",
    "parse_ice_candidate",
    "request_keyframe",
    "restrict_negotiated_codecs",
    "run_without_decoder",
    "unwrap_rtx",
]

RtpPacketHandler = Callable[[RtpPacket, int], Awaitable[None]]


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
        on_started(parameters)

    target.receive = receive


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

    The packet goes into the sender's history, so aiortc answers the
    subscriber's NACKs (wrapping in RTX when negotiated), and the sender's SR
    counters are kept true so the subscriber's RTT and lip-sync stay right.
    """

    __slots__ = ("_extensions", "_history", "_sender", "mid", "payload_type", "ssrc")

    def __init__(self, sender: RTCRtpSender, parameters: RTCRtpSendParameters) -> None:
        self._sender: Any = sender
        self.ssrc: int = sender._ssrc
        self.mid: str | None = parameters.muxId
        payload_type = parameters.codecs[0].payloadType
        if payload_type is None:
            raise ValueError("negotiated codec has no payload type")
        self.payload_type: int = payload_type
        self._extensions = HeaderExtensionsMap()
        self._extensions.configure(parameters)
        target: Any = sender
        self._history: dict[int, RtpPacket] = target._RTCRtpSender__rtp_history

    def is_connected(self) -> bool:
        state: str = self._sender.transport.state
        return state == "connected"

    async def send(self, packet: RtpPacket, report_ntp: int, report_rtp: int) -> None:
        """Send ``packet``; ``report_ntp``/``report_rtp`` are the next SR's clock pair."""
        sender = self._sender
        self._history[packet.sequence_number % RTP_HISTORY_SIZE] = packet
        await sender.transport._send_rtp(packet.serialize(self._extensions))
        sender._RTCRtpSender__ntp_timestamp = report_ntp
        sender._RTCRtpSender__rtp_timestamp = report_rtp
        sender._RTCRtpSender__octet_count += len(packet.payload)
        sender._RTCRtpSender__packet_count += 1

    def sender_report_counts(self) -> tuple[int, int, int, int]:
        """(ntp, rtp, packets, octets) the sender's next SR will carry (for tests)."""
        s: Any = self._sender
        return (
            s._RTCRtpSender__ntp_timestamp,
            s._RTCRtpSender__rtp_timestamp,
            s._RTCRtpSender__packet_count,
            s._RTCRtpSender__octet_count,
        )
