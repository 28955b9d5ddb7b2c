"""The C copy writer: copies parse back as aiortc reads them, bad input changes nothing,
and a hypothesis fuzz of every field against aiortc's parser."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap
from hypothesis import given, settings
from hypothesis import strategies as st

from server.sfu._copy_sender import MAX_PLAINTEXT
from server.sfu.aiortc_internals import RtpPacket
from server.sfu.copy_sender import (
    HISTORY_SIZE,
    MAX_COPY,
    CopySender,
    ExtensionIds,
    OversizeCopy,
    PacketCopies,
)


def parse_with(ids: ExtensionIds, data: bytes) -> RtpPacket:
    uris = {
        "urn:ietf:params:rtp-hdrext:sdes:mid": ids.mid,
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": ids.abs_send_time,
        "urn:ietf:params:rtp-hdrext:ssrc-audio-level": ids.audio_level,
    }
    parameters = RTCRtpParameters(
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=i, uri=uri) for uri, i in uris.items() if i
        ]
    )
    extension_map = HeaderExtensionsMap()
    extension_map.configure(parameters)
    return RtpPacket.parse(data, extension_map)


@pytest.mark.parametrize("padding_size", [0, 7])
@pytest.mark.parametrize("mid", ["0", "12", "abc"])
def test_packet_copies_parse_back_as_aiortc_reads_them(mid: str, padding_size: int) -> None:
    ids = ExtensionIds(mid=4, abs_send_time=2, audio_level=1)
    copies = PacketCopies(
        marker=True,
        payload=b"opus-frame",
        padding_size=padding_size,
        abs_send_time=0x1234567,
        audio_level=(True, 33),
    )
    line = ids.copy_sender(0xABCDEF, 111, mid)
    parsed = parse_with(ids, line.write(copies, 65535, 0xFFFFFFF0))
    assert (parsed.version, parsed.marker, parsed.payload_type) == (2, 1, 111)
    assert (parsed.sequence_number, parsed.timestamp, parsed.ssrc) == (65535, 0xFFFFFFF0, 0xABCDEF)
    assert parsed.payload == b"opus-frame"
    assert parsed.padding_size == padding_size
    assert parsed.extensions.mid == mid
    assert parsed.extensions.abs_send_time == 0x234567
    assert parsed.extensions.audio_level == (True, 33)


def test_packet_copies_without_audio_level_or_negotiated_ids() -> None:
    copies = PacketCopies(
        marker=False, payload=b"vp8", padding_size=0, abs_send_time=5, audio_level=None
    )
    ids = ExtensionIds(mid=9, abs_send_time=None, audio_level=None)
    parsed = parse_with(ids, ids.copy_sender(3, 96, "3").write(copies, 1, 2))
    assert parsed.extensions.mid == "3"
    assert parsed.extensions.abs_send_time is None
    assert parsed.marker == 0 and parsed.payload == b"vp8"
    # No mid negotiated: the extension block is there, and empty.
    bare = ExtensionIds(mid=None, abs_send_time=None, audio_level=None).copy_sender(3, 96, "3")
    data = bare.write(copies, 1, 2)
    assert data[12:16] == b"\xbe\xde\x00\x00" and data[16:] == b"vp8"


def test_copy_sender_keeps_counts_and_forgets_overwritten_copies() -> None:
    copies = PacketCopies(
        marker=True, payload=b"vp8-frame", padding_size=3, abs_send_time=77, audio_level=None
    )
    assert copies.payload_size == len(b"vp8-frame")  # sender reports count no padding
    line = ExtensionIds(mid=9, abs_send_time=3, audio_level=None).copy_sender(30, 96, "7")
    first = line.write(copies, 10, 20)
    assert line.kept(10) == first
    assert line.kept(11) is None
    assert (line.packets, line.payload_octets, line.bytes_sent) == (1, 9, len(first))
    line.write(copies, 10 + HISTORY_SIZE, 20)  # the same place in the history
    assert line.kept(10) is None
    assert line.kept(10 + HISTORY_SIZE) is not None
    assert line.route is None
    # A second __init__ starts the line afresh.
    line.__init__(  # type: ignore[misc]
        ssrc=31, payload_type=96, mid_element=b"", abs_send_time_id=0, audio_level_id=0
    )
    assert (line.packets, line.bytes_sent, line.kept(10 + HISTORY_SIZE)) == (0, 0, None)


def test_copy_sender_refuses_bad_input_and_changes_nothing() -> None:
    copies = PacketCopies(
        marker=False, payload=b"x", padding_size=0, abs_send_time=0, audio_level=None
    )
    ids = ExtensionIds(mid=1, abs_send_time=None, audio_level=None)
    line = ids.copy_sender(1, 96, "0")
    with pytest.raises(OverflowError):
        line.write(copies, 0x10000, 0)
    with pytest.raises(OverflowError):
        line.write(copies, 0, 1 << 32)
    with pytest.raises(TypeError):
        line.write(b"not copies", 0, 0)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="no route"):
        line.send(copies, 0, 0)
    with pytest.raises(RuntimeError, match="no route"):
        line.send_packet(b"\x80" * 12)
    assert (line.packets, line.bytes_sent, line.kept(0)) == (0, 0, None)
    with pytest.raises(ValueError):
        ids.copy_sender(1, 200, "0")
    with pytest.raises(ValueError):
        ids.copy_sender(1, 96, "x" * 17)
    with pytest.raises(OverflowError):
        ids.copy_sender(1 << 32, 96, "0")
    with pytest.raises(OverflowError):
        line.write(copies, 0, (1 << 64) + 5)  # never silently truncated
    for malformed in (bytes(17), b"\x10", b"\x00\x30", b"\x11\x30"):
        with pytest.raises(ValueError):
            CopySender(
                ssrc=1, payload_type=96, mid_element=malformed, abs_send_time_id=0, audio_level_id=0
            )
    with pytest.raises(TypeError):
        line.attach(object())  # type: ignore[arg-type]

    def packet(**overrides: Any) -> PacketCopies:
        fields: dict[str, Any] = {
            "marker": False,
            "payload": b"x",
            "padding_size": 0,
            "abs_send_time": 0,
            "audio_level": None,
        }
        return PacketCopies(**(fields | overrides))

    with pytest.raises(ValueError):
        packet(audio_level=(True, 200))
    with pytest.raises(TypeError):
        packet(audio_level=33)
    with pytest.raises(ValueError):
        packet(padding_size=256)
    with pytest.raises(ValueError):
        packet(payload=bytes(MAX_PLAINTEXT))


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(min_size=1, max_size=1400),
    padding_size=st.integers(0, 255),
    marker=st.booleans(),
    ids=st.lists(st.integers(1, 14), min_size=3, max_size=3, unique=True),
    negotiated=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    mid=st.text(alphabet="0123456789abcdef", min_size=1, max_size=16),
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    abs_send_time=st.integers(0, (1 << 32) - 1),
    audio_level=st.none() | st.tuples(st.booleans(), st.integers(0, 127)),
)
def test_every_copy_parses_back_as_written(
    payload: bytes,
    padding_size: int,
    marker: bool,
    ids: list[int],
    negotiated: tuple[bool, bool, bool],
    mid: str,
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    abs_send_time: int,
    audio_level: tuple[bool, int] | None,
) -> None:
    mid_id, abs_id, level_id = (i if on else None for i, on in zip(ids, negotiated, strict=True))
    extension_ids = ExtensionIds(mid=mid_id, abs_send_time=abs_id, audio_level=level_id)
    copies = PacketCopies(
        marker=marker,
        payload=payload,
        padding_size=padding_size,
        abs_send_time=abs_send_time,
        audio_level=audio_level,
    )
    line = extension_ids.copy_sender(ssrc, payload_type, mid)
    if line.header_size + len(payload) + padding_size > MAX_COPY:
        # Over the MTU once rewritten: refused, neither kept nor counted.
        with pytest.raises(OversizeCopy):
            line.write(copies, sequence_number, timestamp)
        assert line.kept(sequence_number) is None
        assert (line.packets, line.bytes_sent) == (0, 0)
        return
    data = line.write(copies, sequence_number, timestamp)
    assert len(data) <= line.header_size + len(payload) + padding_size
    assert line.kept(sequence_number) == data
    parsed = parse_with(extension_ids, data)
    assert (parsed.payload_type, parsed.sequence_number, parsed.timestamp, parsed.ssrc) == (
        payload_type,
        sequence_number,
        timestamp,
        ssrc,
    )
    assert (parsed.marker, parsed.payload, parsed.padding_size) == (
        int(marker),
        payload,
        padding_size,
    )
    assert parsed.extensions.mid == (mid if mid_id else None)
    assert parsed.extensions.abs_send_time == (abs_send_time & 0xFFFFFF if abs_id else None)
    assert parsed.extensions.audio_level == (audio_level if level_id else None)
    assert (line.packets, line.payload_octets) == (1, len(payload))


def vp8_descriptor(
    *,
    picture_id: int | None,
    long_id: bool = True,
    tl0: int | None = None,
    tid: int | None = None,
    keyidx: int | None = None,
    start: bool = True,
    keyframe: bool = False,
    size: tuple[int, int] = (640, 480),
) -> bytes:
    """A VP8 payload (RFC 7741 descriptor, then a payload header) for the tests."""
    extended = (
        (0x80 if picture_id is not None else 0)
        | (0x40 if tl0 is not None else 0)
        | (0x20 if tid is not None else 0)
        | (0x10 if keyidx is not None else 0)
    )
    out = bytearray([(0x80 if extended else 0) | (0x10 if start else 0)])
    if extended:
        out.append(extended)
    if picture_id is not None:
        if long_id:
            out += bytes([0x80 | (picture_id >> 8), picture_id & 0xFF])
        else:
            out.append(picture_id & 0x7F)
    if tl0 is not None:
        out.append(tl0)
    if tid is not None or keyidx is not None:
        out.append(((tid or 0) << 6) | (keyidx or 0))
    if keyframe:
        width, height = size
        out += bytes([0x00, 0x00, 0x00, 0x9D, 0x01, 0x2A])
        out += width.to_bytes(2, "little") + height.to_bytes(2, "little")
    else:
        out += bytes([0x01, 0x00, 0x00])
    return bytes(out) + b"vp8-data"


def vp8_copies(payload: bytes) -> PacketCopies:
    return PacketCopies(
        marker=False, payload=payload, padding_size=0, abs_send_time=0, audio_level=None, vp8=True
    )


def test_packet_copies_read_the_vp8_descriptor_and_a_keyframes_size() -> None:
    key = vp8_copies(vp8_descriptor(picture_id=300, tl0=7, tid=0, keyidx=3, keyframe=True))
    assert (key.picture_id, key.tl0picidx, key.tid, key.keyidx) == (300, 7, 0, 3)
    assert (key.frame_start, key.keyframe, key.width, key.height) == (True, True, 640, 480)
    delta = vp8_copies(vp8_descriptor(picture_id=5, long_id=False, tid=2, start=False))
    assert (delta.picture_id, delta.tl0picidx, delta.tid, delta.keyidx) == (5, -1, 2, -1)
    assert (delta.frame_start, delta.keyframe, delta.width) == (False, False, 0)
    plain = PacketCopies(
        marker=False,
        payload=vp8_descriptor(picture_id=9),
        padding_size=0,
        abs_send_time=0,
        audio_level=None,
    )
    assert plain.picture_id == -1  # not parsed unless asked
    # A descriptor announcing more than the payload holds: no fields, nothing rewritten.
    short = vp8_copies(bytes([0x90, 0xE0, 0x81]))
    assert (short.picture_id, short.tl0picidx, short.keyframe) == (-1, -1, False)


def test_a_line_continues_picture_id_tl0picidx_and_keyidx_across_runs() -> None:
    ids = ExtensionIds(mid=None, abs_send_time=None, audio_level=None)
    line = ids.copy_sender(1, 96, None)

    def written(copies: PacketCopies, seq: int) -> PacketCopies:
        payload = parse_with(ids, line.write(copies, seq, 0)).payload
        return vp8_copies(payload)

    # A first run is written as it comes.
    first = written(vp8_copies(vp8_descriptor(picture_id=0x7FFE, tl0=250, tid=0, keyidx=30)), 1)
    assert (first.picture_id, first.tl0picidx, first.keyidx) == (0x7FFE, 250, 30)
    assert (line.last_picture_id, line.last_tl0picidx, line.last_keyidx) == (0x7FFE, 250, 30)
    # Another layer (its own numbering) starts a run: it continues the line.
    switch = vp8_copies(
        vp8_descriptor(picture_id=100, tl0=3, tid=0, keyidx=9, keyframe=True, size=(320, 240))
    )
    line.continue_vp8(switch)
    out = written(switch, 2)
    assert (out.picture_id, out.tl0picidx, out.keyidx, out.width) == (0x7FFF, 251, 31, 320)
    out = written(vp8_copies(vp8_descriptor(picture_id=101, tl0=3, tid=1, keyidx=9)), 3)
    assert (out.picture_id, out.tl0picidx, out.tid, out.keyidx) == (0, 251, 1, 31)
    # A dropped picture (a temporal layer not forwarded) leaves no gap in picture ids.
    line.skip_picture()
    out = written(vp8_copies(vp8_descriptor(picture_id=103, tl0=4, tid=0, keyidx=9)), 4)
    assert (out.picture_id, out.tl0picidx) == (1, 252)
    # Seven-bit picture ids keep their width.
    short = vp8_copies(vp8_descriptor(picture_id=127, long_id=False, tl0=0, keyidx=0))
    line.continue_vp8(short)
    out = written(short, 5)
    assert (out.picture_id, out.tl0picidx, out.keyidx) == (2, 253, 0)  # KEYIDX is 5 bits
    assert parse_with(ids, line.write(short, 6, 0)).payload[2] & 0x80 == 0


@pytest.mark.parametrize("long_id", [True, False])
def test_a_late_copy_takes_its_adjusted_picture_id_and_the_line_goes_on(long_id: bool) -> None:
    ids = ExtensionIds(mid=None, abs_send_time=None, audio_level=None)
    line = ids.copy_sender(1, 96, None)
    width = 0x8000 if long_id else 0x80
    newest = width - 2  # the line is about to wrap

    def written(picture_id: int, seq: int, *adjust: int) -> int:
        copies = vp8_copies(vp8_descriptor(picture_id=picture_id, long_id=long_id, tl0=9, tid=0))
        payload = parse_with(ids, line.write(copies, seq, 0, *adjust)).payload
        assert payload[2] & 0x80 == (0x80 if long_id else 0)  # the width is kept
        return vp8_copies(payload).picture_id

    assert written(newest, 1) == newest
    # Three pictures dropped after the newest written: the next one takes newest + 1.
    for _ in range(3):
        line.skip_picture()
    assert written((newest + 4) % width, 5) == newest + 1
    assert line.last_picture_id == newest + 1
    # A late packet of the picture before the drops: the three skipped ids after it
    # are added back for it alone, and the line's last id stays the newest.
    assert written(newest, 2, 3) == newest
    assert line.last_picture_id == newest + 1
    assert line.last_tl0picidx == 9
    # The line wraps to 0; the next picture is dropped; a late packet of the picture
    # that wrapped takes 0 again (its input id, the delta and the adjustment wrap).
    assert written(3, 6) == 0
    line.skip_picture()
    assert written(5, 8) == 1
    assert written(3, 7, 1) == 0
    assert line.last_picture_id == 1
    # A new run continues from the newest id, not the late one.
    switch = vp8_copies(vp8_descriptor(picture_id=50, long_id=long_id, tl0=0, tid=0))
    line.continue_vp8(switch)
    assert vp8_copies(parse_with(ids, line.write(switch, 9, 0)).payload).picture_id == 2
    # An adjustment of 0 is the plain write.
    assert written(51, 10, 0) == 3
    assert line.last_picture_id == 3


def test_a_bad_picture_id_adjustment_is_refused_and_changes_nothing() -> None:
    ids = ExtensionIds(mid=None, abs_send_time=None, audio_level=None)
    line = ids.copy_sender(1, 96, None)
    copies = vp8_copies(vp8_descriptor(picture_id=7, tl0=0, tid=0))
    for bad in (0x8000, -1, 1 << 64):
        with pytest.raises(OverflowError):
            line.write(copies, 1, 0, bad)
        with pytest.raises(OverflowError):
            line.send(copies, 1, 0, bad)
    with pytest.raises(TypeError):
        line.write(copies, 1, 0, "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        line.write(copies, 1, 0, 1, 2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        line.write(copies, 1)  # type: ignore[call-arg]
    with pytest.raises(RuntimeError, match="no route"):
        line.send(copies, 1, 0, 1)  # well formed: only the missing route stops it
    assert (line.packets, line.kept(1), line.last_picture_id) == (0, None, -1)
    # The largest adjustment is a whole turn less one: the id before.
    data = line.write(copies, 1, 0, 0x7FFF)
    assert vp8_copies(parse_with(ids, data).payload).picture_id == 6
    assert line.last_picture_id == -1


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=40), delta=st.integers(0, 3), adjust=st.integers(0, 0x7FFF))
def test_any_payload_parsed_as_vp8_is_rewritten_within_itself(
    payload: bytes, delta: int, adjust: int
) -> None:
    copies = vp8_copies(payload)
    ids = ExtensionIds(mid=None, abs_send_time=None, audio_level=None)
    line = ids.copy_sender(1, 96, None)
    for _ in range(delta):
        line.skip_picture()
    line.continue_vp8(copies)
    out = parse_with(ids, line.write(copies, 1, 0, adjust)).payload
    assert len(out) == len(payload)
    # Only the descriptor's id fields may change; the VP8 data itself never does.
    assert out[6:] == payload[6:]
