"""Writing forwarded RTP packets as bytes (RFC 3550 section 5.1, RFC 8285 one-byte extensions).

Forwarding sends every received packet once per subscriber leg, and copies
are most of the server's work. The copies differ only in the 12-byte fixed
header and the extension block, so the parts they share are kept once per
received packet (``PacketCopies``) and each slot's ``CopySender`` writes,
keeps (for NACKs), protects and sends its copy in one call, through its
subscribe connection's ``DatagramRoute`` (the selected pair's socket and
address, and the connection's SRTP session). Both are C types
(``server/sfu/_copy_sender.c``): in Python the interpreter's overhead per
copy cost more than the copy itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.sfu._copy_sender import (
    HISTORY_SIZE,
    MAX_COPY,
    MAX_RTP_PACKET,
    CopySender,
    DatagramRoute,
    OversizeCopy,
    PacketCopies,
    SrtpError,
    TransportSequence,
)

__all__ = [
    "HISTORY_SIZE",
    "MAX_COPY",
    "MAX_DATAGRAM",
    "MAX_RTP_PACKET",
    "CopySender",
    "DatagramRoute",
    "ExtensionIds",
    "OversizeCopy",
    "PacketCopies",
    "SrtpError",
    "TransportSequence",
    "one_byte_element",
]

# SRTP's authentication tag: 16 bytes for AEAD_AES_*_GCM, 10 for
# AES_CM_128_HMAC_SHA1_80 (aiortc offers both; no MKI).
_MAX_SRTP_TAG = 16
# The largest UDP payload the server sends as RTP: 1372 bytes, so 1400 bytes
# over IPv4 and 1420 over IPv6 with TURN framing to spare in a 1500-byte MTU.
# Browsers send at most about 1200, so honest media is never near it.
MAX_DATAGRAM = MAX_RTP_PACKET + _MAX_SRTP_TAG


def one_byte_element(extension_id: int, value: bytes) -> bytes:
    """One RFC 8285 one-byte-header element: ID and length-1 in a byte, then the value."""
    if not 1 <= extension_id <= 14 or not 1 <= len(value) <= 16:
        raise ValueError(f"extension {extension_id} with {len(value)} bytes has no one-byte form")
    return bytes([(extension_id << 4) | (len(value) - 1)]) + value


@dataclass(frozen=True, slots=True)
class ExtensionIds:
    """The header extension ids a subscribe connection negotiated (None: not negotiated)."""

    mid: int | None
    abs_send_time: int | None
    audio_level: int | None

    def copy_sender(self, ssrc: int, payload_type: int, mid: str | None) -> CopySender:
        """A slot's CopySender: its copies carry ``mid`` and the other negotiated extensions."""
        mid_element = (
            one_byte_element(self.mid, mid.encode()) if mid and self.mid is not None else b""
        )
        return CopySender(
            ssrc=ssrc,
            payload_type=payload_type,
            mid_element=mid_element,
            abs_send_time_id=self.abs_send_time or 0,
            audio_level_id=self.audio_level or 0,
        )
