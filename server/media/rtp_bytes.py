"""Writing forwarded RTP packets as bytes (RFC 3550 section 5.1, RFC 8285 one-byte extensions).

Forwarding sends every received packet once per subscriber leg. Building an
``aiortc.rtp.RtpPacket`` per copy and serialising it through aiortc's
extension map costs more than everything else in the copy; the copies differ
only in a 12-byte fixed header and the ``mid`` extension, so the parts they
share are built once per packet (``PacketCopies``) and each copy is three
byte strings joined.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_FIXED_HEADER = struct.Struct("!BBHII")
_VERSION_2_WITH_EXTENSION = 0x90  # V=2, X=1: every forwarded packet carries a mid
_PADDING_BIT = 0x20
_ONE_BYTE_PROFILE = b"\xbe\xde"
_ABS_SEND_TIME_LENGTH = 3


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

    def key_with(self, mid_element: bytes) -> bytes:
        """A bytes key for (these ids, ``mid_element``): bytes cache their hash, per packet
        copy that matters."""
        ids = (self.mid or 0, self.abs_send_time or 0, self.audio_level or 0)
        return bytes(ids) + mid_element


class PacketCopies:
    """The copies of one received packet, one per leg; the parts they share are built once.

    Extension blocks are cached per (extension ids, mid): subscribers' slots
    often share mid values ("0", "1", ...), so a packet forwarded to many legs
    needs only a few distinct blocks.
    """

    __slots__ = (
        "_abs_send_time",
        "_audio_level",
        "_blocks",
        "_first_byte",
        "_marker",
        "payload",
        "payload_size",
    )

    def __init__(
        self,
        *,
        marker: bool,
        payload: bytes,
        padding_size: int,
        abs_send_time: int,
        audio_level: tuple[bool, int] | None,
    ) -> None:
        # Payload octets as sender reports count them: without padding.
        self.payload_size = len(payload)
        if padding_size:
            payload = payload + bytes(padding_size - 1) + bytes([padding_size])
        self.payload = payload
        self._marker = 0x80 if marker else 0
        self._first_byte = _VERSION_2_WITH_EXTENSION | (_PADDING_BIT if padding_size else 0)
        self._abs_send_time = (abs_send_time & 0xFFFFFF).to_bytes(_ABS_SEND_TIME_LENGTH, "big")
        self._audio_level = audio_level
        self._blocks: dict[bytes, bytes] = {}

    def extensions(self, ids: ExtensionIds, mid_element: bytes, key: bytes) -> bytes:
        """The extension block for a leg; ``key`` names (ids, mid_element) cheaply."""
        block = self._blocks.get(key)
        if block is None:
            elements = mid_element
            if ids.abs_send_time is not None:
                elements += one_byte_element(ids.abs_send_time, self._abs_send_time)
            if ids.audio_level is not None and self._audio_level is not None:
                voice, level = self._audio_level
                elements += one_byte_element(
                    ids.audio_level, bytes([(0x80 if voice else 0) | level])
                )
            block = extension_block(elements)
            self._blocks[key] = block
        return block

    def copy(
        self,
        ids: ExtensionIds,
        mid_element: bytes,
        key: bytes,
        payload_type: int,
        sequence_number: int,
        timestamp: int,
        ssrc: int,
    ) -> bytes:
        """One leg's copy: ``extensions`` and ``write`` in one call (it runs once per copy)."""
        block = self._blocks.get(key)
        if block is None:
            block = self.extensions(ids, mid_element, key)
        return b"".join(
            (
                _FIXED_HEADER.pack(
                    self._first_byte, self._marker | payload_type, sequence_number, timestamp, ssrc
                ),
                block,
                self.payload,
            )
        )

    def write(
        self,
        extensions: bytes,
        payload_type: int,
        sequence_number: int,
        timestamp: int,
        ssrc: int,
    ) -> bytes:
        """One copy: the fixed header, the leg's extension block, the shared payload."""
        header = _FIXED_HEADER.pack(
            self._first_byte, self._marker | payload_type, sequence_number, timestamp, ssrc
        )
        return header + extensions + self.payload


def extension_block(elements: bytes) -> bytes:
    """The header extension: profile, length in 32-bit words, elements padded with zeros."""
    padded = elements + bytes(-len(elements) % 4)
    return _ONE_BYTE_PROFILE + struct.pack("!H", len(padded) // 4) + padded
