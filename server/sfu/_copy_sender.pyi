"""Types of server/sfu/_copy_sender.c (the per-copy half of RTP forwarding)."""

from collections.abc import Callable, Sized
from typing import Any

HISTORY_SIZE: int
MAX_PLAINTEXT: int
MAX_RTP_PACKET: int
MAX_COPY: int

class SrtpError(RuntimeError):
    """srtp_protect failed; ``args[0]`` is libsrtp's status code."""

class OversizeCopy(ValueError):
    """A copy would exceed MAX_COPY once rewritten; ``args[0]`` is its size."""

class PacketCopies:
    """What every forwarded copy of one received RTP packet shares."""

    payload: bytes
    payload_size: int
    # The VP8 payload descriptor, read when vp8=True (-1 / False / 0: absent).
    picture_id: int
    tl0picidx: int
    tid: int
    layer_sync: int
    keyidx: int
    frame_start: bool
    keyframe: bool
    width: int
    height: int
    def __init__(
        self,
        *,
        marker: bool,
        payload: bytes,
        padding_size: int,
        abs_send_time: int,
        audio_level: tuple[bool, int] | None,
        vp8: bool = False,
    ) -> None: ...

class DatagramRoute:
    """Where a subscribe connection's copies go: its selected pair's socket and address,
    and its SRTP session. ``srtp_context``/``srtp_protect`` are raw C addresses: only
    server.sfu.aiortc_internals makes routes."""

    @property
    def open(self) -> bool: ...
    def __init__(
        self,
        *,
        fd: int,
        host: str,
        port: int,
        srtp_context: int,
        srtp_protect: int,
        srtp_owner: object,
        fallback_sendto: Callable[[bytes, tuple[str, int]], Any],
        queue: Sized,
    ) -> None: ...
    def close(self) -> None: ...

class TransportSequence:
    """A subscribe connection's transport-wide sequence numbers and the log of what it
    sent, shared by its slots' CopySenders."""

    numbered: int
    def __init__(self) -> None: ...
    def sent(self, sequence_number: int, /) -> tuple[int, int, bool] | None: ...
    @staticmethod
    def now_us() -> int: ...

class CopySender:
    """One subscriber slot's outgoing RTP line."""

    packets: int
    payload_octets: int
    bytes_sent: int
    last_picture_id: int
    last_tl0picidx: int
    last_keyidx: int
    @property
    def route(self) -> DatagramRoute | None: ...
    @property
    def header_size(self) -> int: ...
    def __init__(
        self,
        *,
        ssrc: int,
        payload_type: int,
        mid_element: bytes,
        abs_send_time_id: int,
        audio_level_id: int,
    ) -> None: ...
    # picture_id_adjust (0-0x7FFF): added to this copy's VP8 picture id only (a late
    # packet placed before pictures since dropped); such a copy leaves last_picture_id.
    def write(
        self,
        copies: PacketCopies,
        sequence_number: int,
        timestamp: int,
        picture_id_adjust: int = 0,
        /,
    ) -> bytes: ...
    def send(
        self,
        copies: PacketCopies,
        sequence_number: int,
        timestamp: int,
        picture_id_adjust: int = 0,
        /,
    ) -> int: ...
    def send_packet(self, data: bytes, /) -> None: ...
    def kept(self, sequence_number: int, /) -> bytes | None: ...
    def attach(self, route: DatagramRoute, /) -> None: ...
    def detach(self) -> None: ...
    def continue_vp8(self, copies: PacketCopies, /) -> None: ...
    def skip_picture(self) -> None: ...
    def use_transport_sequence(
        self, sequence: TransportSequence, extension_id: int, video: bool
    ) -> None: ...
