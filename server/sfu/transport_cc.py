"""Transport-wide congestion control on subscribe connections: the SDP and the feedback.

The server numbers every copy it sends a subscriber with one transport-wide
sequence (draft-holmer-rmcat-transport-wide-cc-extensions-01; the C copy
sender writes the number and logs when each packet went, ``TransportSequence``)
and the subscriber's browser answers with feedback saying when each numbered
packet arrived, or that it did not. From the two the server sees its own
packets queue on the way to her (``server/sfu/downlink.py``), which a
receive-side REMB could only show as a lower figure some seconds later.

aiortc neither offers the extension nor parses the feedback, so the offer's
lines are added here in text (the copies are written by the C sender, never
by aiortc, so aiortc need not know of the extension), the answer is read
here, and the feedback is parsed here from the RTCP the quarantine hands over
(``observe_transport_feedback``).
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
# The id offered: aiortc's own extensions take 1-3 on subscribe connections
# (mid, audio level, abs-send-time); under BUNDLE ids are shared by all sections.
OFFERED_EXTENSION_ID = 5
# RTCP transport-layer feedback (RFC 4585), FMT 15: transport-wide feedback.
RTPFB = 205
TRANSPORT_FEEDBACK_FMT = 15
# A feedback's times are in these units.
_REFERENCE_TIME_US = 64_000
_DELTA_US = 250
# The receiver's reference time wraps after this long (24 bits of 64 ms).
ARRIVAL_PERIOD_US = (1 << 24) * _REFERENCE_TIME_US
# One feedback names at most this many packets. A browser sends one every 50-250
# ms and a subscriber receives at most about 2,000 packets a second, so a few
# hundred; the count field allows 65,535, which would cost the server that many
# steps per packet a hostile peer sends.
MAX_STATUS_COUNT = 2048
# An answer's lines read at most (an answer is a few kilobytes; a hostile one is
# not read past this).
_MAX_SDP_LINES = 32_000


class MalformedFeedback(ValueError):
    """A transport-wide feedback whose fields do not add up."""


@dataclass(frozen=True, slots=True)
class TransportFeedback:
    """What one feedback says: from ``base_sequence`` on, when each packet arrived.

    ``arrivals[i]`` is the arrival of the packet numbered ``(base_sequence + i)
    & 0xFFFF`` in microseconds on the receiver's clock (its own origin), or
    None: not received (yet).
    """

    base_sequence: int
    feedback_count: int
    arrivals: tuple[int | None, ...]


def offer_transport_cc(sdp: str) -> str:
    """``sdp`` (an offer aiortc wrote) with transport-wide congestion control offered.

    Each audio and video section gains the extension's ``a=extmap`` and each
    of its codecs (RTX aside) ``a=rtcp-fb:<pt> transport-cc``, which is what
    Chrome and Firefox need to send feedback. A section that already has them
    is left as it is.
    """
    lines = sdp.split("\r\n")
    out: list[str] = []
    section: list[str] = []

    def flush() -> None:
        out.extend(_with_transport_cc(section))
        section.clear()

    for line in lines:
        if line.startswith("m="):
            flush()
        section.append(line)
    flush()
    return "\r\n".join(out)


def _with_transport_cc(section: list[str]) -> list[str]:
    if not section or not section[0].startswith(("m=audio", "m=video")):
        return list(section)
    if any(line.startswith("a=extmap:") and TRANSPORT_CC_URI in line for line in section):
        return list(section)
    rtx = {
        line.split()[0][len("a=rtpmap:") :]
        for line in section
        if line.startswith("a=rtpmap:") and " rtx/" in line.lower()
    }
    result: list[str] = []
    for line in section:
        result.append(line)
        if line.startswith("a=rtpmap:"):
            payload_type = line.split()[0][len("a=rtpmap:") :]
            if payload_type not in rtx:
                result.append(f"a=rtcp-fb:{payload_type} transport-cc")
    # After the section's last extmap; without one, after its a=mid (or at its end,
    # before trailing blank text).
    extmaps = [i for i, line in enumerate(result) if line.startswith("a=extmap:")]
    mid = next((i for i, line in enumerate(result) if line.startswith("a=mid:")), None)
    if extmaps:
        at = extmaps[-1] + 1
    elif mid is not None:
        at = mid + 1
    else:
        at = len(result) - 1 if result and result[-1] == "" else len(result)
    result.insert(at, f"a=extmap:{OFFERED_EXTENSION_ID} {TRANSPORT_CC_URI}")
    return result


def answered_transport_cc(sdp: str) -> int | None:
    """The extension id the answer ``sdp`` accepted transport-wide numbering with, if any.

    Accepted means: an ``a=extmap`` with the URI and, in that section, a codec
    with ``transport-cc`` feedback (without it a browser numbers nothing back).
    Under BUNDLE every section answers the same id; the first is taken.
    """
    extension_id: int | None = None
    feedback = False
    for line in sdp.split("\r\n")[:_MAX_SDP_LINES]:
        if line.startswith("m="):
            if extension_id is not None and feedback:
                return extension_id
            extension_id, feedback = None, False
        elif line.startswith("a=extmap:") and TRANSPORT_CC_URI in line:
            value = line[len("a=extmap:") :].split()[0].split("/")[0]
            if value.isdigit() and 1 <= int(value) <= 14:
                extension_id = int(value)
        elif line.startswith("a=rtcp-fb:") and line.split()[-1:] == ["transport-cc"]:
            feedback = True
    return extension_id if extension_id is not None and feedback else None


def transport_feedback_payloads(data: bytes) -> list[bytes]:
    """The FCI of each transport-wide feedback in the compound RTCP ``data`` (after
    its sender and media SSRCs); nothing for a compound whose lengths do not add up."""
    found: list[bytes] = []
    position = 0
    while position + 4 <= len(data):
        first, packet_type = data[position], data[position + 1]
        length = (int.from_bytes(data[position + 2 : position + 4], "big") + 1) * 4
        if first >> 6 != 2 or position + length > len(data):
            return []
        if packet_type == RTPFB and first & 0x1F == TRANSPORT_FEEDBACK_FMT and length >= 12:
            end = position + length
            if first & 0x20:  # padding: its last byte says how much
                padding = data[end - 1]
                if padding == 0 or padding > length - 12:
                    return []
                end -= padding
            found.append(bytes(data[position + 12 : end]))
        position += length
    return found


def parse_transport_feedback(fci: bytes) -> TransportFeedback:
    """Parse one transport-wide feedback's FCI (draft-holmer-rmcat-transport-wide-cc-
    extensions-01, section 3.1). Raises ``MalformedFeedback``."""
    if len(fci) < 8:
        raise MalformedFeedback("a feedback has at least 8 bytes of fields")
    base = int.from_bytes(fci[0:2], "big")
    count = int.from_bytes(fci[2:4], "big")
    # A count of 64 ms on the receiver's clock that wraps at 24 bits (every 12.4
    # days); the delays computed from it are taken modulo that period.
    reference = int.from_bytes(fci[4:7], "big")
    feedback_count = fci[7]
    if count == 0 or count > MAX_STATUS_COUNT:
        raise MalformedFeedback(f"a feedback about {count} packets")
    symbols: list[int] = []
    position = 8
    while len(symbols) < count:
        if position + 2 > len(fci):
            raise MalformedFeedback("the packet chunks end early")
        chunk = int.from_bytes(fci[position : position + 2], "big")
        position += 2
        if chunk & 0x8000 == 0:  # run length: a 2-bit symbol, a 13-bit run
            symbol = (chunk >> 13) & 0x3
            run = chunk & 0x1FFF
            symbols.extend([symbol] * min(run, count - len(symbols)))
            if run == 0:
                raise MalformedFeedback("a run of no packets")
        elif chunk & 0x4000 == 0:  # status vector of fourteen 1-bit symbols
            for shift in range(13, -1, -1):
                symbols.append((chunk >> shift) & 0x1)
        else:  # status vector of seven 2-bit symbols
            for shift in range(12, -1, -2):
                symbols.append((chunk >> shift) & 0x3)
    del symbols[count:]
    arrivals: list[int | None] = []
    at = reference * _REFERENCE_TIME_US
    for symbol in symbols:
        if symbol == 0:
            arrivals.append(None)
            continue
        if symbol == 1:
            if position + 1 > len(fci):
                raise MalformedFeedback("the receive deltas end early")
            delta = fci[position]
            position += 1
        elif symbol == 2:
            if position + 2 > len(fci):
                raise MalformedFeedback("the receive deltas end early")
            delta = int.from_bytes(fci[position : position + 2], "big", signed=True)
            position += 2
        else:
            raise MalformedFeedback("a reserved status symbol")
        at += delta * _DELTA_US
        arrivals.append(at)
    if len(fci) - position > 3:
        raise MalformedFeedback("bytes left over after the receive deltas")
    return TransportFeedback(base, feedback_count, tuple(arrivals))
