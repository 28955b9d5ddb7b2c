"""Simulcast in SDP (RFC 8853 ``a=simulcast``, RFC 8851 ``a=rid``): what a publish offer
asks to send, and the lines its answer needs.

aiortc 1.16 neither parses nor writes these lines, so the offer's are read here
from its text, and the answer aiortc writes is completed in text too (the
extmaps it lacks are added inside the aiortc quarantine, ``accept_simulcast``).
Only a camera is simulcast: the rids are ``signaling.media.SIMULCAST_RIDS``,
and a section's other rids are left out of the answer, so the browser sends
only those layers.
"""

from __future__ import annotations

from dataclasses import dataclass

from signaling.media import SIMULCAST_RIDS

RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
SIMULCAST_URIS = (MID_URI, RID_URI, REPAIRED_RID_URI)
# A section's lines read at most (an offer is a few kilobytes; a hostile one is not read past this).
_MAX_LINES = 2000


@dataclass(frozen=True, slots=True)
class SimulcastSection:
    """One offered video section's simulcast: the accepted rids, lowest resolution first,
    and the offer's extmap ids of the header extensions simulcast needs."""

    mid: str
    rids: tuple[str, ...]
    extension_ids: dict[str, int]


def offered_simulcast(sdp: str, *, skip_mid: str | None = None) -> dict[str, SimulcastSection]:
    """The video sections of ``sdp`` that offer to send simulcast with accepted rids.

    A rid counts when it is declared ``a=rid:<rid> send`` and listed on the
    section's ``a=simulcast:send`` line (alternatives with ``,``, paused with a
    leading ``~``: a paused layer is still answered, the browser decides when
    it sends). Rids other than SIMULCAST_RIDS are ignored. ``skip_mid`` (the
    screen) is never simulcast.
    """
    found: dict[str, SimulcastSection] = {}
    for section in _sections(sdp):
        if not section or not section[0].startswith("m=video"):
            continue
        mid: str | None = None
        declared: set[str] = set()
        listed: list[str] = []
        extension_ids: dict[str, int] = {}
        for line in section[1:_MAX_LINES]:
            if line.startswith("a=mid:"):
                mid = line[6:].strip()
            elif line.startswith("a=rid:"):
                parts = line[6:].split()
                if len(parts) >= 2 and parts[1] == "send":
                    declared.add(parts[0])
            elif line.startswith("a=simulcast:"):
                listed = _send_rids(line[12:])
            elif line.startswith("a=extmap:"):
                parts = line[9:].split()
                if len(parts) >= 2 and parts[1] in SIMULCAST_URIS:
                    number = parts[0].split("/")[0]
                    if number.isdigit() and 1 <= int(number) <= 14:
                        extension_ids[parts[1]] = int(number)
        if mid is None or mid == skip_mid:
            continue
        rids = tuple(rid for rid in SIMULCAST_RIDS if rid in declared and rid in listed)
        if rids and all(uri in extension_ids for uri in (MID_URI, RID_URI)):
            found[mid] = SimulcastSection(mid, rids, extension_ids)
    return found


def complete_answer(sdp: str, sections: dict[str, SimulcastSection]) -> str:
    """``sdp`` (an answer) with ``a=rid:<rid> recv`` and ``a=simulcast:recv`` in each section."""
    if not sections:
        return sdp
    newline = "\r\n" if "\r\n" in sdp else "\n"
    out: list[str] = []
    for line in sdp.split(newline):
        out.append(line)
        if line.startswith("a=mid:"):
            section = sections.get(line[6:].strip())
            if section is not None:
                out.extend(f"a=rid:{rid} recv" for rid in section.rids)
                out.append("a=simulcast:recv " + ";".join(section.rids))
    return newline.join(out)


def _sections(sdp: str) -> list[list[str]]:
    sections: list[list[str]] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
    return sections


def _send_rids(value: str) -> list[str]:
    """The rids of an ``a=simulcast`` value's send direction (``send q;h,x;~f recv ...``)."""
    parts = value.split()
    for direction, streams in zip(parts[::2], parts[1::2], strict=False):
        if direction == "send":
            return [
                rid.lstrip("~")
                for alternatives in streams.split(";")
                for rid in alternatives.split(",")
                if rid.lstrip("~")
            ]
    return []
