"""What an SDP needs before aiortc is given it. aiortc's parser accepts sections that
its negotiation then fails on half-way (a section without DTLS or ICE parameters, a
missing mid, a BUNDLE group naming a mid that is not there), leaving a connection it
cannot even close; such a description is refused up front instead."""

from __future__ import annotations

from server.sfu.aiortc_internals import ParsedSessionDescription

MAX_PORT = 0xFFFF


def parse_usable(sdp: str) -> ParsedSessionDescription:
    """Parse ``sdp``; raise ValueError, with the reason, for anything aiortc cannot use.
    Whatever aiortc's parser raises (it checks with bare asserts and unguarded indexing
    and int()) becomes a ValueError too."""
    try:
        parsed = ParsedSessionDescription.parse(sdp)
    except Exception as error:
        raise ValueError(f"not valid SDP: {type(error).__name__}: {error}"[:200]) from error
    if any(m.dtls is None or m.ice is None or not m.ice.usernameFragment for m in parsed.media):
        raise ValueError("a section has no DTLS or ICE parameters")
    mids = [m.rtp.muxId for m in parsed.media]
    if not all(mids) or len(set(mids)) != len(mids):
        raise ValueError("each section needs a distinct mid")
    bundled = [mid for group in parsed.group for mid in group.items]
    if not set(bundled) <= set(mids):
        raise ValueError("a BUNDLE group names a mid that is not there")
    for media in parsed.media:
        for candidate in media.ice_candidates:
            check_port(candidate.port)
    return parsed


def check_port(port: int) -> None:
    """Raise ValueError for an ICE candidate's port that no socket has. aioice would
    fail at its first check there: the socket call raises OverflowError, not an
    OSError, so asyncio logs a traceback and closes the connection's socket.
    (Signaling refuses such candidates too; the plane does not rely on it.)"""
    if not 0 <= port <= MAX_PORT:
        raise ValueError(f"an ICE candidate's port is 0 to {MAX_PORT}")
